"""The system this project replaces (nginx, two Express servers, BullMQ), measured as the stack is.

``make bench`` runs it when its ``up`` script is there (``../shared/seed-system/up``
by default, ``--seed-system`` names another): on free ports, in a session of
its own, so that the CPU of nginx, node and its Redis is counted as the
stack's is (:mod:`.cpu`). Its node packages are installed once, into
``.run/bench/seed-system``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from services.stack.stack import PROJECT_DIR
from tests.support import free_ports

from .cpu import CpuMeter
from .wrk import run_wrk

#: Where the old system's one command is, beside this project.
DEFAULT_UP = PROJECT_DIR.parent / "shared" / "seed-system" / "up"
#: What ``up`` prints once it serves.
READY = "seed system ready: "
#: Its routes, as the stack's: the page enqueues a job.
PATHS = ("/", "/template?name=bench")
#: How long its worker gets to run what the load enqueued before its CPU is read.
SETTLE_SECONDS = 1
#: How long it gets to stop on SIGTERM before what is left of it is killed.
STOP_SECONDS = 10


@contextlib.contextmanager
def running(up: Path) -> Iterator[tuple[str, int]]:
    """The old system started by ``up``: its URL and its session id; stopped at the end."""
    lb, api_1, api_2, redis_port = free_ports(4)
    run_dir = PROJECT_DIR / ".run" / "bench" / "seed-system"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SEED_LB_PORT": str(lb),
        "SEED_API_PORTS": f"{api_1},{api_2}",
        "SEED_REDIS_PORT": str(redis_port),
        "SEED_RUN": str(run_dir),
    }
    process = subprocess.Popen(
        [str(up)], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        for line in process.stdout:
            if line.startswith(READY):
                yield line[len(READY) :].split()[0], process.pid
                break
        else:
            raise RuntimeError(f"{up} exited before it served (status {process.wait()})")
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop ``up`` and all it started: SIGTERM, then SIGKILL to what is left of its session.

    ``up`` stops its Redis together with its worker, whose BullMQ close may
    then wait for a Redis that is gone.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def measure(up: Path, *, seconds: float) -> dict:
    """GET / and GET /template through its nginx, under wrk: the stack's measures."""
    results = {}
    with running(up) as (url, session):
        for path in PATHS:
            run_wrk(url + path, seconds=1)  # warm up connections and lazy imports
            meter = CpuMeter({"seed system": session})
            load = run_wrk(url + path, seconds=seconds)
            # The jobs a page enqueued run in a moment; the stack's are waited for too.
            time.sleep(SETTLE_SECONDS)
            spent = sum(meter.spent().values())
            results[f"GET {path}"] = {
                "requests_per_s": load.per_second,
                "p50_ms": load.p50_ms,
                "p99_ms": load.p99_ms,
                "requests": load.requests,
                "failed": load.errors + load.bad_status,
                "stack_cpu_us_per_request": spent / load.requests * 1e6,
            }
    return results
