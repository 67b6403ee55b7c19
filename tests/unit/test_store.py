"""The job store's memory stays bounded: ended jobs expire, the index is trimmed."""

from __future__ import annotations

import redis

from actors import lifecycle
from actors.job_request import JobOptions, JobRequest
from actors.record import JobRecord
from actors.states import State
from actors.store import JobStore, NewJob

from ..support import wait_for


def record(job_id: str) -> JobRecord:
    return lifecycle.submit(JobRequest(actor="add", args=[1, 2]), job_id=job_id, queue="default")


def test_ended_jobs_expire_and_the_index_is_trimmed_while_waiting_jobs_stay(clean_redis):
    client = redis.Redis.from_url(clean_redis)
    store = JobStore(client, retention_seconds=1)
    waiting = "still-queued"
    ended = [f"job-{number}" for number in range(300)]
    # One call, so that no entry is older than the retention before the count.
    store.create_many([NewJob(record(job_id)) for job_id in [waiting, *ended]])
    for job_id in ended:
        store.write(job_id, lifecycle.cancel())
    assert client.xlen(store.keys.index) == 301

    wait_for(
        lambda: client.keys("jobqueue:job:job-*") == [],
        timeout=15,
        what="records and events of ended jobs to expire",
    )
    # The index forgets entries older than the retention as new jobs arrive.
    store.create_many([NewJob(record("newcomer"))])
    assert client.xlen(store.keys.index) < 150
    # A job that has not run yet is never forgotten, however old.
    assert store.get(waiting).state is State.QUEUED
    assert client.ttl(store.keys.job(waiting)) == -1


def test_a_new_record_keeps_only_what_says_something_and_reads_back_as_submitted(clean_redis):
    client = redis.Redis.from_url(clean_redis)
    store = JobStore(client, retention_seconds=60)
    plain = lifecycle.submit(JobRequest(actor="add", args=[1, 2]), job_id="plain", queue="default")
    high = lifecycle.submit(
        JobRequest.model_validate(
            {"actor": "add", "args": [1, 2], "options": {"priority": "high"}}
        ),
        job_id="high",
        queue="default-high",
    )
    # Options given, each as its default: the defaults still, whatever was given.
    as_defaults = lifecycle.submit(
        JobRequest.model_validate(
            {"actor": "add", "args": [1, 2], "options": {"priority": "normal", "delay": 0}}
        ),
        job_id="as-defaults",
        queue="default",
    )
    store.create_many([NewJob(plain), NewJob(high), NewJob(as_defaults)])

    # No attempt yet, options all the defaults: neither is written.
    for job_id in ("plain", "as-defaults"):
        assert {b"attempts", b"options"}.isdisjoint(client.hkeys(store.keys.job(job_id)))
    assert client.hget(store.keys.job("high"), "options") == b'{"priority":"high"}'
    # Read back, the job is the one submitted: no attempts, the options it asked for.
    for submitted in (plain, high):
        stored = store.get(submitted.id)
        assert stored.attempts == 0
        assert (stored.options or JobOptions()) == submitted.options
        assert stored.model_dump(exclude={"options"}) == submitted.model_dump(exclude={"options"})


def test_a_record_keeps_its_nested_parts_without_their_nulls_and_its_values_as_given():
    failed = JobRecord(
        id="failed",
        actor="add",
        state=State.FAILED,
        args=[1, None],
        kwargs={"b": {"c": None}},
        attempts=2,
        progress={"value": 0.5, "message": "half"},
        error={"type": "ValueError", "message": "no"},
        result={"kept": None},
        workflow={"id": "w", "step": 1},
    )

    assert failed.compact() == {
        "actor": "add",
        "state": State.FAILED,
        "args": [1, None],
        "kwargs": {"b": {"c": None}},
        "attempts": 2,
        "progress": {"value": 0.5, "message": "half"},
        # The traceback, None, left out; nulls inside a value kept.
        "error": {"type": "ValueError", "message": "no"},
        "result": {"kept": None},
        "workflow": {"id": "w", "step": 1},
    }
