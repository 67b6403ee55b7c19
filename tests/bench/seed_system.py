"""The system this project replaces (nginx, two Express servers, BullMQ), measured as the stack is.

``make bench`` runs it when its ``up`` script is there (``../shared/seed-system/up``
by default, ``--seed-system`` names another): on free ports, in a session of
its own, so that the CPU of nginx, node and its Redis is counted as the
stack's is (:mod:`.cpu`). It runs beside the stack, idle while the stack is
measured, so that the two take turns under the same load. Its node packages are installed once, into
``.run/bench/seed-system``. Its bulk submission is BullMQ's ``addBulk``
(``add_bulk.js``), straight to its Redis: it has no HTTP route for one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from services.stack.stack import PROJECT_DIR
from tests.support import free_ports

from .cpu import CpuMeter
from .http_load import load_figures
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
#: Its parts, each as the stack's counterpart is named in ``make bench``'s
#: table, by what their command lines hold (all run in the session of ``up``).
PARTS = {
    "load balancer": "nginx",
    "API": "server.js",
    "worker": "worker.js",
    "Redis": "redis-server",
}
#: The keys of the queue ``add_bulk.js`` adds to, as BullMQ names them.
BULK_KEYS = "bull:bulk:"
#: Jobs a call of ``addBulk``.
ADD_BULK_BATCH = 1000
#: Where the old system's node packages are installed, and its logs written.
RUN_DIR = PROJECT_DIR / ".run" / "bench" / "seed-system"


@dataclass(frozen=True)
class SeedSystem:
    """The old system, serving: its load balancer's URL, its session id, its Redis's port."""

    url: str
    session: int
    redis_port: int


@contextlib.contextmanager
def running(up: Path) -> Iterator[SeedSystem]:
    """The old system started by ``up``, stopped at the end."""
    lb, api_1, api_2, redis_port = free_ports(4)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SEED_LB_PORT": str(lb),
        "SEED_API_PORTS": f"{api_1},{api_2}",
        "SEED_REDIS_PORT": str(redis_port),
        "SEED_RUN": str(RUN_DIR),
    }
    process = subprocess.Popen(
        [str(up)], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        for line in process.stdout:
            if line.startswith(READY):
                yield SeedSystem(line[len(READY) :].split()[0], process.pid, redis_port)
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


def measure_path(seed: SeedSystem, path: str, *, seconds: float) -> dict:
    """GET ``path`` through its nginx under wrk, measured as the stack is (``measure_http``).

    Its CPU per request is given whole, and by part (:data:`PARTS`).
    """
    meter = CpuMeter({"seed system": seed.session}, parts=PARTS)
    load = run_wrk(seed.url + path, seconds=seconds)
    # The jobs a page enqueued run in a moment; the stack's are waited for too.
    time.sleep(SETTLE_SECONDS)
    spent = meter.spent()
    return {
        **load_figures(load),
        "stack_cpu_us_per_request": sum(spent.values()) / load.requests * 1e6,
        "cpu_us_per_request": {
            part: round(seconds / load.requests * 1e6, 1) for part, seconds in spent.items()
        },
    }


def add_bulk(seed: SeedSystem, jobs: int) -> dict:
    """``jobs`` added by BullMQ's ``addBulk``, ADD_BULK_BATCH a call, from one node client.

    They go once counted (no worker takes from their queue): each call
    starts on the same Redis, and what the old system serves next is not
    measured beside them.
    """
    output = subprocess.run(
        ["node", str(Path(__file__).with_name("add_bulk.js")), str(jobs), str(ADD_BULK_BATCH)],
        env={
            **os.environ,
            "NODE_PATH": str(RUN_DIR / "node_modules"),
            "SEED_REDIS_PORT": str(seed.redis_port),
        },
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    added = json.loads(output.strip().splitlines()[-1])
    client = redis.Redis(port=seed.redis_port)
    keys = list(client.scan_iter(f"{BULK_KEYS}*", count=1000))
    for first in range(0, len(keys), 1000):
        client.unlink(*keys[first : first + 1000])
    return {"jobs": added["jobs"], "jobs_per_s": added["jobs"] / added["seconds"]}
