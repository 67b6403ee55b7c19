"""The ``jobqueue`` command against the real stack: what it prints, and the exit codes scripts read.

Most commands run in this process (a Python start per command would be most of
the time taken); one runs the installed command itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from jobqueue_client.cli import main

from ..support import free_ports


@pytest.fixture
def jobqueue(stack, capsys, monkeypatch):
    def run(*args: str, url: str = stack.url) -> subprocess.CompletedProcess:
        monkeypatch.setenv("JOBQUEUE_URL", url)
        code = main(args)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def test_the_installed_command_runs_a_job(stack):
    command = Path(sys.executable).with_name("jobqueue")
    env = {**os.environ, "JOBQUEUE_URL": stack.url}

    done = subprocess.run(
        [command, "submit", "add", "40", "2", "--wait", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == 42


def test_submit_and_wait_prints_the_result_and_exits_0(jobqueue, stack):
    done = jobqueue("submit", "add", "1", "2", "--wait")

    assert done.returncode == 0, done.stderr
    assert "state     succeeded" in done.stdout
    assert "result    3" in done.stdout

    as_json = jobqueue("--json", "submit", "add", "2.5", "-k", "b=1", "--wait")
    record = json.loads(as_json.stdout)
    assert (record["state"], record["args"], record["kwargs"], record["result"]) == (
        "succeeded",
        [2.5],
        {"b": 1},
        3.5,
    )
    # What a script reads from --json is what the API answers, times spelled alike.
    assert record == stack.job(record["id"])


def test_watch_draws_progress_until_the_job_succeeds(jobqueue):
    # Delayed, so that the job's whole life is watched.
    submitted = jobqueue(
        "submit", "count_slowly", "-k", "to=4", "-k", "interval=0.1", "--delay", "1", "-q"
    )
    job_id = submitted.stdout.strip()

    watched = jobqueue("watch", job_id)

    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    bars = [line for line in lines if line.startswith("[")]
    assert bars[0] == "[" + "#" * 8 + "-" * 22 + "]  25%  counted 1 of 4"
    assert bars[-1] == "[" + "#" * 30 + "] 100%  counted 4 of 4"
    states = [line.split()[-1] for line in lines[: len(bars) + 3] if not line.startswith("[")]
    assert states == ["delayed", "running", "succeeded"]
    assert "state     succeeded" in watched.stdout


def test_a_failed_job_is_listed_retried_and_exits_1(jobqueue):
    message = uuid.uuid4().hex
    failed = jobqueue(
        "submit", "fail", "-k", f"message={message}", "-k", "permanent=true", "--wait"
    )
    assert failed.returncode == 1
    assert f"error     PermanentError: {message}" in failed.stdout
    assert f"raise PermanentError(message)\nactors.jobs.PermanentError: {message}" in failed.stdout
    job_id = failed.stdout.split()[1]

    listed = jobqueue("--json", "list", "--state", "failed", "--actor", "fail", "--limit", "200")
    assert job_id in [job["id"] for job in json.loads(listed.stdout)["jobs"]]
    assert job_id in jobqueue("list", "--state", "failed").stdout

    retried = jobqueue("retry", job_id, "--wait")
    assert retried.returncode == 1
    assert "attempts  2" in retried.stdout
    assert jobqueue("cancel", job_id).returncode == 4


def test_exit_codes_tell_what_went_wrong(jobqueue):
    slow = jobqueue("submit", "count_slowly", "-k", "to=100", "-k", "interval=0.1", "-q")
    job_id = slow.stdout.strip()

    assert jobqueue("status", job_id, "--wait", "--timeout", "0.3").returncode == 6
    assert jobqueue("cancel", job_id).returncode == 0
    assert jobqueue("status", job_id, "--wait").returncode == 1
    assert jobqueue("status", str(uuid.uuid4())).returncode == 3
    refused = jobqueue("submit", "no_such_job")
    assert refused.returncode == 2 and "422" in refused.stderr
    (port,) = free_ports(1)
    unreachable = jobqueue("actors", url=f"http://127.0.0.1:{port}")
    assert unreachable.returncode == 5
    assert f"cannot reach the service at http://127.0.0.1:{port}" in unreachable.stderr
    assert "Error(" not in unreachable.stderr  # words, not an exception's repr


def test_actors_lists_what_may_be_submitted(jobqueue):
    listed = jobqueue("actors")

    assert "add(a, b)" in listed.stdout
    assert "count_slowly(to=10, interval=0.5)" in listed.stdout
    names = [actor["name"] for actor in json.loads(jobqueue("--json", "actors").stdout)]
    assert "render_document" in names
