"""A Redis that is full (maxmemory reached, noeviction) strands no job, with real workers."""

from __future__ import annotations

import contextlib
import dataclasses
import time

import redis

import actors
from actors.jobs import add, count_slowly
from actors.states import State
from tests.integration.test_liveness import running_worker
from tests.support import ended, run_job


@contextlib.contextmanager
def full(client: redis.Redis):
    """Redis refuses every write while inside, as it does once maxmemory is reached."""
    client.config_set("maxmemory", 1)
    try:
        yield
    finally:
        client.config_set("maxmemory", 0)


def test_jobs_running_through_a_full_redis_end_once_and_no_worker_is_reaped(settings):
    settings = dataclasses.replace(settings, heartbeat_timeout_ms=1000)
    busy, watcher = actors.connect(settings.queue_config()), actors.connect(settings.queue_config())
    slow = [count_slowly.submit(to=12, interval=0.25).id for _ in range(2)]
    quick = [add.submit(n, 1).id for n in range(20)]
    client = busy.broker.client

    with running_worker(busy, threads=2), running_worker(watcher, threads=2):
        time.sleep(0.5)
        # Longer than the heartbeat timeout: every beat, progress report and
        # end is refused meanwhile.
        with full(client):
            time.sleep(2.5)
        records = [ended(busy, job_id) for job_id in slow + quick]

    # Each ran once: none was handed to the other worker, none died of a
    # progress report it could not write, every end was written.
    assert {record.state for record in records} == {State.SUCCEEDED}
    assert {record.attempts for record in records} == {1}
    assert [record.result for record in records[:2]] == [12, 12]
    assert client.info("errorstats")["errorstat_OOM"]["count"] > 0


def test_a_retry_due_while_redis_is_full_is_sent_once_it_has_room(settings):
    queue = actors.connect(
        dataclasses.replace(
            settings, job_modules=("actors.jobs", "tests.failing_jobs")
        ).queue_config()
    )
    job_id = run_job(queue, "fail_after", seconds=0.5)

    with running_worker(queue, threads=1):
        time.sleep(0.2)
        # Its first attempt fails, and its retry is sent, while nothing can be written.
        with full(queue.broker.client):
            time.sleep(1.5)
        record = ended(queue, job_id)

    # Not left "retrying" without a message: retried, and dead after its one retry.
    assert (record.state, record.attempts) == (State.DEAD, 2), record
    assert record.error.message == "failed after 0.5 s"
