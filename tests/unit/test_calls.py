"""One store, two clients: each operation runs alike on a blocking client and on asyncio."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio

from actors import lifecycle
from actors.calls import run_async
from actors.job_request import JobRequest
from actors.record import JobRecord
from actors.states import State
from actors.store import JobStore, NewJob


def record(job_id: str) -> JobRecord:
    return lifecycle.submit(JobRequest(actor="add", args=[1, 2]), job_id=job_id, queue="default")


def test_what_one_client_writes_the_other_reads_with_the_same_operations(clean_redis):
    blocking = JobStore(redis.Redis.from_url(clean_redis), retention_seconds=60)

    async def on_asyncio() -> tuple:
        client = redis.asyncio.Redis.from_url(clean_redis)
        store = JobStore(client, retention_seconds=60)
        try:
            await store.create_many([NewJob(record("from-asyncio"))])
            cancelled = await store.write("from-blocking", lifecycle.cancel())
            found = await store.get("from-blocking")
            listed, _cursor = await store.list()
            return cancelled, found, listed
        finally:
            await client.aclose()

    blocking.create_many([NewJob(record("from-blocking"))])
    cancelled, found, listed = asyncio.run(on_asyncio())

    assert cancelled == (True, State.QUEUED, 0)
    assert found.state is State.CANCELLED
    assert [job.id for job in listed] == ["from-asyncio", "from-blocking"]
    assert blocking.get("from-asyncio").state is State.QUEUED


def test_an_error_of_an_awaited_call_is_raised_where_the_call_was_made():
    async def refused() -> None:
        raise redis.ConnectionError("gone")

    def steps():
        try:
            yield refused()
        except redis.ConnectionError as error:
            return f"handled: {error}"

    assert asyncio.run(run_async(steps())) == "handled: gone"


def test_an_unreachable_redis_fails_an_asyncio_operation_with_redis_own_error(
    unreachable_settings,
):
    async def get() -> None:
        client = redis.asyncio.Redis.from_url(unreachable_settings.redis_url)
        try:
            await JobStore(client, retention_seconds=60).get("any")
        finally:
            await client.aclose()

    with pytest.raises(redis.ConnectionError):
        asyncio.run(get())
