"""Measures of the job path: bulk submission, draining a full queue, queue wait, wake-up after idle.

Each measure runs against the service (jobs submitted through the load
balancer, as clients do) and, where one exists, against the raw dramatiq
baseline on the same Redis (:mod:`tests.bench.raw_dramatiq`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import dramatiq
import requests

from actors.store import JobStore
from services.api.models import MAX_BATCH_JOBS
from tests.support import wait_for

from .queues import QueueWatch
from .raw_dramatiq import WAITS_KEY
from .redis_stats import redis_counters
from .stack import BenchStack

#: Jobs per POST /jobs/batch: the most the API takes in one request, as many
#: as the old system's ``addBulk`` is given a call (``seed_system.ADD_BULK_BATCH``).
BATCH_SIZE = MAX_BATCH_JOBS


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[round(percent / 100 * (len(ordered) - 1))]


def submit_batches(bench: BenchStack, jobs: int) -> dict:
    """POST /jobs/batch through the load balancer, one client, until ``jobs`` are queued."""
    body = json.dumps({"jobs": [{"actor": "add", "args": [i, 1]} for i in range(BATCH_SIZE)]})
    headers = {"Content-Type": "application/json"}
    meter = bench.cpu_meter()
    with requests.Session() as session:
        started = time.perf_counter()
        for _ in range(jobs // BATCH_SIZE):
            response = session.post(f"{bench.url}/jobs/batch", data=body, headers=headers)
            assert response.status_code == 202, response.text
        seconds = time.perf_counter() - started
    submitted = jobs // BATCH_SIZE * BATCH_SIZE
    spent = meter.spent()
    return {
        "jobs": submitted,
        "jobs_per_s": submitted / seconds,
        "stack_cpu_us_per_job": sum(spent.values()) / submitted * 1e6,
        "cpu_us_per_job": {name: cpu / submitted * 1e6 for name, cpu in spent.items()},
    }


def preload_raw(bench: BenchStack, jobs: int) -> None:
    """Queue ``jobs`` baseline no-op messages (a few threads: sending is mostly waiting)."""
    noop = bench.raw_actors["noop"]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: noop.send(), range(jobs)))


@dataclass
class Drain:
    """What a worker did while it emptied a full queue."""

    namespace: str
    worker: str

    def measure(self, bench: BenchStack, start_worker: Callable[[], None]) -> dict:
        watch = QueueWatch(bench.redis, self.namespace)
        queued = watch.waiting()
        start_worker()
        # The drain begins when the worker takes its first messages, once it
        # has started (its start-up is not what is measured).
        wait_for(lambda: watch.waiting() < queued, timeout=120, interval=0.002, what="a worker")
        meter = bench.cpu_meter(self.worker, "redis")
        before = redis_counters(bench.redis)
        watch.polls = 0
        jobs = watch.unfinished()
        started = time.perf_counter()
        watch.wait_finished()
        seconds = time.perf_counter() - started
        spent = meter.spent()
        delta = redis_counters(bench.redis) - before
        # Leave out what measuring cost: the polls, and the INFO commands.
        delta.commands["hlen"] -= 2 * watch.polls
        del delta.commands["info"]
        reads = delta.reads - watch.polls - 1
        return {
            "jobs": jobs,
            "jobs_per_s": jobs / seconds,
            "worker_cpu_us_per_job": spent[self.worker] / jobs * 1e6,
            "redis_cpu_us_per_job": spent["redis"] / jobs * 1e6,
            "redis_commands_per_job": delta.commands.total() / jobs,
            "redis_round_trips_per_job": reads / jobs,
            "commands_per_job": {
                name: round(count / jobs, 3) for name, count in delta.commands.most_common()
            },
        }


def wait_for_records_only(bench: BenchStack) -> None:
    """Until the ended jobs' event streams have gone: they linger a moment (``lua/job.lua``)."""
    streams = JobStore(bench.redis, retention_seconds=0).keys.events("*")
    wait_for(
        lambda: next(bench.redis.scan_iter(match=streams, count=1000), None) is None,
        timeout=30,
        interval=0.2,
        what="the ended jobs' event streams to go",
    )


def _started_after_ms(session: requests.Session, url: str, job_id: str) -> float:
    """How long the job waited in its queue: enqueued_at to started_at, from its record."""
    record = session.get(f"{url}/jobs/{job_id}", params={"wait": 30}, timeout=60).json()
    assert record["state"] == "succeeded", record
    started, enqueued = (
        datetime.fromisoformat(record[f"{name}_at"]) for name in ("started", "enqueued")
    )
    return (started - enqueued).total_seconds() * 1000


def _paced(rate: float, count: int, send: Callable[[], None]) -> None:
    start = time.perf_counter()
    for number in range(count):
        time.sleep(max(0.0, start + number / rate - time.perf_counter()))
        send()


def _submit(session: requests.Session, url: str) -> str:
    response = session.post(f"{url}/jobs", json={"actor": "add", "args": [1, 1]}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _raw_waits_ms(bench: BenchStack, count: int) -> list[float]:
    wait_for(lambda: bench.redis.llen(WAITS_KEY) >= count, timeout=60, what="the stamps")
    waits = [float(wait) * 1000 for wait in bench.redis.lrange(WAITS_KEY, 0, -1)]
    bench.redis.delete(WAITS_KEY)
    return waits


def _summary(waits: list[float]) -> dict:
    return {
        "p50_ms": percentile(waits, 50),
        "p99_ms": percentile(waits, 99),
        "max_ms": max(waits),
        "samples": waits,
    }


def queue_wait(bench: BenchStack, *, rate: float, seconds: float) -> dict:
    """Queue wait at a steady ``rate`` of jobs per second, service then baseline."""
    count = round(rate * seconds)
    with requests.Session() as session:
        ids: list[str] = []
        _paced(rate, count, lambda: ids.append(_submit(session, bench.url)))
        ours = [_started_after_ms(session, bench.url, job_id) for job_id in ids]
    stamp = bench.raw_actors["stamp"]
    _paced(rate, count, lambda: stamp.send(time.time()))
    raw = _raw_waits_ms(bench, count)
    return {"service": _summary(ours), "raw": _summary(raw)}


def after_idle(bench: BenchStack, *, idle_seconds: float, samples: int) -> dict:
    """Queue wait of one job sent after ``idle_seconds`` of nothing, to both workers at once."""
    stamp: dramatiq.Actor = bench.raw_actors["stamp"]
    ids = []
    with requests.Session() as session:
        for _ in range(samples):
            time.sleep(idle_seconds)
            stamp.send(time.time())
            ids.append(_submit(session, bench.url))
            time.sleep(1)  # both have run it before the next idle spell begins
        ours = [_started_after_ms(session, bench.url, job_id) for job_id in ids]
    raw = _raw_waits_ms(bench, samples)
    return {"service": _summary(ours), "raw": _summary(raw)}
