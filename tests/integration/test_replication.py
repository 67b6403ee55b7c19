"""Writes a replica confirmed: a real master and a real replica of it."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit

import falcon.testing
import pytest
import redis

from actors import lifecycle
from actors.connection import RedisConfig, async_client
from actors.job_request import JobRequest
from actors.record import JobRecord
from actors.replication import Confirmation, NotReplicated
from actors.states import State
from actors.store import JobStore, NewJob
from services.api.app import create_app
from services.stack.redis_server import server_command

from ..support import assert_problem, free_ports, submit, wait_for

CONFIRMED = Confirmation(replicas=1, timeout_ms=2000)
#: What a master without replicas answers writes with: none confirms them.
UNCONFIRMED = Confirmation(replicas=1, timeout_ms=50)


def record(job_id: str) -> JobRecord:
    return lifecycle.submit(JobRequest(actor="add", args=[1, 2]), job_id=job_id, queue="default")


@pytest.fixture
def replica(clean_redis, redis_binary, tmp_path) -> Iterator[redis.Redis]:
    """A replica of the test's Redis, in sync with it: the same server, which reads its data."""
    master = urlsplit(clean_redis)
    (port,) = free_ports(1)
    argv = server_command(redis_binary, host="127.0.0.1", port=port, data_dir=tmp_path)
    process = subprocess.Popen(
        [*argv, "--replicaof", master.hostname, str(master.port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis("127.0.0.1", port)
    try:
        wait_for(lambda: _in_sync(client), timeout=15, what="the replica to sync")
        yield client
    finally:
        # Gone at once, so that the next test's master has no replica.
        process.kill()
        process.wait(10)


def _in_sync(client: redis.Redis) -> bool:
    try:
        return client.info("replication")["master_link_status"] == "up"
    except redis.ConnectionError:
        return False


def test_a_confirmed_write_is_on_the_replica_when_it_returns(clean_redis, replica):
    store = JobStore(
        redis.Redis.from_url(clean_redis), retention_seconds=60, confirmation=CONFIRMED
    )

    store.create_many([NewJob(record("confirmed"))])
    applied, before, _attempt = store.write("confirmed", lifecycle.cancel())

    assert (applied, before) == (True, State.QUEUED)
    assert replica.hget(store.keys.job("confirmed"), "state") == b"cancelled"


def test_a_master_that_lost_the_script_is_given_it_again(clean_redis, replica):
    # As a replica promoted by a failover, which never ran SCRIPT LOAD.
    client = redis.Redis.from_url(clean_redis)
    store = JobStore(client, retention_seconds=60, confirmation=CONFIRMED)
    client.script_flush()

    store.create_many([NewJob(record("after-flush"))])

    assert replica.exists(store.keys.job("after-flush"))


def test_a_redis_that_lost_the_script_is_given_it_again_by_either_client(clean_redis):
    # As a Redis restarted without its scripts: a plain write, with no replica to wait for.
    blocking = JobStore(redis.Redis.from_url(clean_redis), retention_seconds=60)
    blocking.client.script_flush()

    blocking.create_many([NewJob(record("blocking"))])

    async def create_on_asyncio():
        client = async_client(RedisConfig(clean_redis), max_connections=2, wait_seconds=1)
        store = JobStore(client, retention_seconds=60)
        await client.script_flush()
        try:
            return await store.create_many([NewJob(record("asyncio"))])
        finally:
            await client.aclose()

    assert asyncio.run(create_on_asyncio()) == [(True, "asyncio")]
    assert blocking.get("blocking").state == State.QUEUED
    assert blocking.get("asyncio").state == State.QUEUED


def test_a_write_no_replica_confirms_raises_and_is_on_the_master(clean_redis):
    client = redis.Redis.from_url(clean_redis)
    store = JobStore(client, retention_seconds=60, confirmation=UNCONFIRMED)

    with pytest.raises(NotReplicated, match="0 of 1 replica"):
        store.create_many([NewJob(record("unconfirmed"))])

    assert store.get("unconfirmed").state is State.QUEUED


def test_a_submission_no_replica_confirms_is_503_saying_it_was_made(settings, queue):
    unconfirmed = JobStore(queue.broker.client, retention_seconds=60, confirmation=UNCONFIRMED)
    client = falcon.testing.TestClient(
        create_app(settings, dataclasses.replace(queue, store=unconfirmed))
    )

    result = submit(client, headers={"Idempotency-Key": "unconfirmed"})

    assert_problem(result, 503, "was made", "Idempotency-Key")
    assert result.headers["Retry-After"]
    # Sent again once replicas answer, it is the same job.
    again = submit(
        falcon.testing.TestClient(create_app(settings, queue)),
        headers={"Idempotency-Key": "unconfirmed"},
    )
    assert again.status_code == 200
