"""The job store's memory stays bounded: ended jobs expire, the index is trimmed."""

from __future__ import annotations

import redis

from actors.store import JobStore
from actors.submission import JobRequest, new_record

from ..support import wait_for


def record(job_id: str) -> dict:
    return new_record(JobRequest(actor="add", args=[1, 2]), job_id, "default")


def test_ended_jobs_expire_and_the_index_is_trimmed_while_waiting_jobs_stay(clean_redis):
    client = redis.Redis.from_url(clean_redis)
    store = JobStore(client, retention_seconds=1)
    waiting = "still-queued"
    store.create(record(waiting))
    for number in range(300):
        job_id = f"job-{number}"
        store.create(record(job_id))
        store.transition(job_id, "running", allowed_from=("queued",))
        store.transition(job_id, "succeeded", allowed_from=("running",), fields={"result": 3})
    assert client.xlen(store.index_key) == 301

    wait_for(
        lambda: client.keys("jobqueue:job:job-*") == [],
        timeout=15,
        what="records and events of ended jobs to expire",
    )
    # The index forgets entries older than the retention as new jobs arrive.
    store.create(record("newcomer"))
    assert client.xlen(store.index_key) < 150
    # A job that has not run yet is never forgotten, however old.
    assert store.get(waiting)["state"] == "queued"
    assert client.ttl(store.job_key(waiting)) == -1
