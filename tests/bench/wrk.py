"""Load from wrk, the HTTP benchmarking tool, as requests per second and latency percentiles.

wrk is a C program with an event loop: on a small machine it drives the
stack as hard as the stack can go, where a Python client would measure
itself. It is a system package (Debian: ``wrk``); ``make bench`` stops with
that advice when it is missing rather than installing anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: The Lua script that makes wrk report its results as JSON.
REPORT_SCRIPT = Path(__file__).with_name("report.lua")


class WrkMissing(RuntimeError):
    pass


def find_wrk() -> str:
    """The wrk binary on PATH, or :class:`WrkMissing` saying how to install it."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkMissing(
            "make bench needs wrk, the HTTP load generator: "
            "install it with `sudo apt-get install wrk` (Debian, Ubuntu) "
            "or `brew install wrk` (macOS), then run make bench again"
        )
    return wrk


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    requests: int
    seconds: float
    errors: int
    bad_status: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    url: str,
    *,
    seconds: float,
    connections: int = 100,
    threads: int = 2,
    post_json: object | None = None,
) -> Load:
    """Keep ``connections`` keep-alive connections busy with GET ``url`` for ``seconds``.

    ``post_json``: POST it, as JSON, instead.
    """
    env = dict(os.environ)
    if post_json is not None:
        env["WRK_JSON_BODY"] = json.dumps(post_json)
    output = subprocess.run(
        [
            find_wrk(),
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={max(1, round(seconds))}s",
            "--timeout=10s",
            f"--script={REPORT_SCRIPT}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    report = json.loads(output.strip().splitlines()[-1])
    return Load(
        requests=report["requests"],
        seconds=report["duration_us"] / 1e6,
        errors=report["errors"],
        bad_status=report["bad_status"],
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
    )
