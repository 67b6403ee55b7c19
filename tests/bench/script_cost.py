"""What a job's calls cost Redis, counted in instructions: figures that barely drift.

CPU per job moves with a shared machine's speed, by half within minutes; the
instructions Redis runs for a call move by under a percent between runs (a
fetch's by up to three). With valgrind installed, ``make bench`` starts a
Redis of its own (the server the stack runs, configured as the stack's)
under callgrind and counts what each call of a job's life costs it, per
job, :data:`BATCH` jobs a call as a busy stack makes them: the job's
creation (the script ``POST /jobs`` calls), its fetch, and its settle (its
start and its end, which ride together for a short job). A change to a
script shows as the same difference run after run.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
from dramatiq.message import Message

import actors
from actors import submission
from actors.job_request import JobRequest
from tests.support import (
    first_redis_server,
    redis_server,
    settings_for,
    started_and_ended,
    wait_for,
)

#: Jobs a call, as a busy stack's calls carry them.
BATCH = 16
#: Jobs counted, each call of their life.
JOBS = 800
#: The file callgrind writes a count to, numbered by each dump.
OUT = "callgrind.out"


def available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def measure(run_dir: Path) -> dict[str, float]:
    """Redis's instructions per job: for its creation, its fetch and its settle."""
    with _counting_redis(run_dir / "script-cost") as (url, count):
        queue = actors.connect(settings_for(url).queue_config())
        _create(queue, BATCH)
        _settle(queue, _fetch(queue, BATCH))  # scripts loaded, keys made
        taken: list[tuple[Message, int]] = []
        spent = {
            "create": count(lambda: _create(queue, JOBS)),
            "fetch": count(lambda: taken.extend(_fetch(queue, JOBS))),
            "settle": count(lambda: _settle(queue, taken)),
        }
    return {call: instructions / JOBS for call, instructions in spent.items()}


def _create(queue: actors.Queue, jobs: int) -> None:
    for _ in range(jobs // BATCH):
        submission.submit_many(queue, [JobRequest(actor="add", args=[n, 1]) for n in range(BATCH)])


def _fetch(queue: actors.Queue, jobs: int) -> list[tuple[Message, int]]:
    taken: list[tuple[Message, int]] = []
    while len(taken) < jobs:
        fetched = queue.broker.fetch("default", BATCH).messages
        taken += [(Message.decode(data), attempt) for data, attempt in fetched]
    return taken


def _settle(queue: actors.Queue, taken: list[tuple[Message, int]]) -> None:
    for first in range(0, len(taken), BATCH):
        settlements = started_and_ended(taken[first : first + BATCH], queue.broker.worker_name)
        queue.broker.settle("default", settlements)


@contextlib.contextmanager
def _counting_redis(data_dir: Path) -> Iterator[tuple[str, Callable[[Callable[[], object]], int]]]:
    """A Redis under callgrind; yields its URL, and what counts the instructions a call spends."""
    callgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={data_dir / OUT}"]
    with redis_server(data_dir, first_redis_server(), under=callgrind) as url:
        # Redis runs in the process valgrind started, the one callgrind_control takes.
        pid = redis.Redis.from_url(url).info("server")["process_id"]
        dumps = 0

        def count(call: Callable[[], object]) -> int:
            nonlocal dumps
            _control("--zero", pid)
            call()
            _control("--dump", pid)
            dumps += 1
            return _instructions(data_dir / f"{OUT}.{dumps}")

        yield url, count


def _control(option: str, pid: int) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def _instructions(dump: Path) -> int:
    """The instructions a callgrind dump counted in all."""
    wait_for(dump.exists, timeout=30, what=f"callgrind's {dump.name}")
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError(f"{dump} has no total")
