"""Schemathesis against the running stack: no 5xx, and no response that breaks the contract.

It reads ``/openapi.json`` through Traefik, generates requests for every
operation (valid ones and invalid ones, then chains of them that follow the
``Location`` of created jobs) and checks every response, event streams
included: each Server-Sent Event is checked against the documented event.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .conftest import stack_settings, start_stack

#: Test cases per operation and phase: enough to reach odd corners, few enough
#: that the run takes a couple of minutes on two cores.
MAX_EXAMPLES = 50


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path):
    # A stack of its own: fuzzed jobs (a count_slowly with a huge count, say)
    # must not tie up the workers the other end-to-end tests share. A short
    # ?wait= limit keeps generated waits on jobs that never end short (longer
    # ones are refused with a documented 400), and so does a short lifetime
    # for event streams, which would otherwise follow such jobs for minutes.
    stack = start_stack(
        tmp_path / "stack",
        # Fuzzed jobs may sleep for ages: stopping the stack does not wait for them.
        stack_settings(max_wait_seconds=2, stream_seconds=3, worker_shutdown_timeout_ms=1000),
    )
    try:
        run = fuzz(stack.url, tmp_path)
        if crashed_without_findings(run):
            run = fuzz(stack.url, tmp_path)
    finally:
        stack.stack.stop()

    assert run.returncode == 0, f"schemathesis found problems:\n{run.stdout}\n{run.stderr}"
    # It really tested every operation: not a run that passes for lack of any.
    selected = re.search(r"Operations:\s+(\d+) selected / (\d+) total", run.stdout)
    assert selected, run.stdout
    assert selected[1] == selected[2] and int(selected[1]) >= 10, run.stdout


def crashed_without_findings(run: subprocess.CompletedProcess) -> bool:
    """Schemathesis itself failed while generating, and found nothing wrong with the API.

    Seen here while generating test cases, before any request: Hypothesis
    hitting CPython 3.11's "AST constructor recursion depth mismatch" bug, and
    Hypothesis's "Inconsistent results". Such a run gets one more try; a
    finding (a FAILURES section) is never retried away.
    """
    return run.returncode != 0 and "Runtime Error" in run.stdout and "FAILURES" not in run.stdout


def fuzz(url: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{url}/openapi.json",
            "--checks=not_a_server_error,response_schema_conformance",
            f"--max-examples={MAX_EXAMPLES}",
            # One thread: Hypothesis parses the source of lambdas with ast, and
            # CPython 3.11 before 3.11.8 fails such parses run in two threads at
            # once ("AST constructor recursion depth mismatch", gh-106905).
            "--workers=1",
            "--request-timeout=60",
            "--generation-database=none",
            "--no-color",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
