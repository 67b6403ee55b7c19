"""The API's Redis client: the calls of one tick share one round trip, on a real Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from actors.connection import RedisConfig, async_client
from actors.pipelining import WRITE_AT_ONCE, SharedConnection
from tests.support import redis_server


def client_of(url: str):
    return async_client(RedisConfig(url), max_connections=4, wait_seconds=1)


def reads(r: redis.Redis) -> int:
    """Requests Redis has read from clients, the INFO asking for it not counted."""
    return r.info("stats")["total_reads_processed"]


@pytest.fixture
def own_redis(tmp_path, redis_binary) -> Iterator[str]:
    """A Redis of this test's own: the session's may still hear from clients of earlier tests."""
    with redis_server(tmp_path / "redis", redis_binary) as url:
        yield url


@pytest.fixture
def frozen_redis(own_redis) -> Iterator[tuple[str, int]]:
    """A Redis of this test's own (URL, pid), which the test may SIGSTOP; SIGCONT at the end."""
    pid = redis.Redis.from_url(own_redis).info("server")["process_id"]
    try:
        yield own_redis, pid
    finally:
        os.kill(pid, signal.SIGCONT)


def test_concurrent_calls_are_one_round_trip_each_with_its_own_reply(own_redis):
    r = redis.Redis.from_url(own_redis)
    for number in range(50):
        r.hset(f"job:{number}", "number", number)

    async def fifty_at_once():
        client = client_of(own_redis)
        await client.ping()  # connected
        before = reads(r)
        records = await asyncio.gather(*(client.hgetall(f"job:{n}") for n in range(50)))
        return records, reads(r) - before - 1

    records, round_trips = asyncio.run(fifty_at_once())

    assert records == [{b"number": str(number).encode()} for number in range(50)]
    assert round_trips == 1


def test_an_error_reply_fails_its_own_call_only(clean_redis):
    r = redis.Redis.from_url(clean_redis)
    r.set("text", "not a hash")
    r.hset("hash", "field", "value")

    async def together():
        client = client_of(clean_redis)
        return await asyncio.gather(
            client.hgetall("hash"), client.hgetall("text"), client.get("text"),
            return_exceptions=True,
        )  # fmt: skip

    record, wrong, text = asyncio.run(together())

    assert record == {b"field": b"value"}
    assert isinstance(wrong, redis.ResponseError) and "WRONGTYPE" in str(wrong)
    assert text == b"not a hash"


def test_a_call_after_redis_closed_the_connection_is_made_on_a_new_one(clean_redis):
    r = redis.Redis.from_url(clean_redis)
    r.set("key", "value")

    async def killed_between_calls():
        client = client_of(clean_redis)
        first = await client.get("key")
        r.client_kill_filter(_type="normal", skipme=True)
        # The dead connection's call is retried on a new one.
        return first, await client.get("key")

    assert asyncio.run(killed_between_calls()) == (b"value", b"value")


def test_a_blocking_read_holds_up_no_other_call(clean_redis):
    r = redis.Redis.from_url(clean_redis)
    r.set("key", "value")

    async def read_while_blocked():
        client = client_of(clean_redis)
        blocked = asyncio.ensure_future(client.xread({"stream": "$"}, block=2000))
        await asyncio.sleep(0.05)
        value = await asyncio.wait_for(client.get("key"), timeout=1)
        waiting = not blocked.done()
        r.xadd("stream", {"field": "value"})
        return value, waiting, await blocked

    value, waiting, read = asyncio.run(read_while_blocked())

    assert (value, waiting) == (b"value", True)
    assert read[0][1][0][1] == {b"field": b"value"}


def test_calls_to_a_redis_that_is_not_there_fail_as_unreachable(unreachable_settings):
    async def call():
        await client_of(unreachable_settings.redis_url).get("key")

    with pytest.raises(redis.ConnectionError):
        asyncio.run(call())


def test_every_kind_of_argument_redis_py_takes_reaches_redis_as_it_would(clean_redis):
    r = redis.Redis.from_url(clean_redis)
    values = {"text": "é", "bytes": b"\x00\xff", "int": 7, "float": 2.5}
    values |= {"bytearray": bytearray(b"ba"), "memoryview": memoryview(b"mv")}

    async def write_all():
        client = client_of(clean_redis)
        await client.hset("kinds", mapping=values)
        # A command name of two words, which redis-py splits.
        return await client.execute_command("CONFIG GET", "maxmemory-policy")

    policy = asyncio.run(write_all())

    assert r.hgetall("kinds") == {
        b"text": "é".encode(),
        b"bytes": b"\x00\xff",
        b"int": b"7",
        b"float": b"2.5",
        b"bytearray": b"ba",
        b"memoryview": b"mv",
    }
    assert policy == r.config_get("maxmemory-policy")


def test_a_failed_connections_late_write_leaves_the_new_connections_calls_to_it(clean_redis):
    r = redis.Redis.from_url(clean_redis)
    r.set("key", "value")

    async def late_write():
        client = client_of(clean_redis)
        await client.ping()
        shared = client._shared
        failed = shared._connection
        shared._fail(failed, redis.ConnectionError("closed by the test"))
        await shared._open()
        call = asyncio.ensure_future(client.get("key"))
        await asyncio.sleep(0)  # the call is queued on the new connection, not yet written
        assert shared._unsent
        shared._write(failed)  # a write the failed connection had scheduled, run late
        return await asyncio.wait_for(call, timeout=2)

    assert asyncio.run(late_write()) == b"value"


def test_a_call_made_late_in_a_quiet_spell_waits_its_whole_read_timeout(frozen_redis):
    url, pid = frozen_redis

    async def late_call():
        shared = SharedConnection(redis.asyncio.ConnectionPool.from_url(url, socket_timeout=1))
        await shared.call(("PING",))
        await asyncio.sleep(0.6)  # the connection has been quiet for most of its read timeout
        os.kill(pid, signal.SIGSTOP)
        asyncio.get_running_loop().call_later(0.6, os.kill, pid, signal.SIGCONT)
        try:
            return await shared.call(("PING",))
        finally:
            await shared.close()

    # Redis answered 0.6 s after the call, within its read timeout.
    assert asyncio.run(late_call()) == b"PONG"


def test_a_call_to_a_frozen_redis_times_out_once_and_is_not_made_again(frozen_redis):
    url, pid = frozen_redis
    r = redis.Redis.from_url(url)
    connections = r.info("stats")["total_connections_received"]

    async def call_frozen():
        client = client_of(url)
        client.connection_pool.connection_kwargs["socket_timeout"] = 0.5
        client._shared.read_timeout = 0.5
        await client.ping()
        os.kill(pid, signal.SIGSTOP)
        try:
            await client.incr("counter")
        finally:
            os.kill(pid, signal.SIGCONT)

    with pytest.raises(redis.TimeoutError):
        asyncio.run(call_frozen())

    # Once, on the client's one connection: no other was opened to send it again.
    assert r.get("counter") == b"1"
    assert r.info("stats")["total_connections_received"] - connections == 1


def test_a_connection_lost_as_it_opens_fails_its_call_and_the_next_is_made_on_a_new_one(
    clean_redis,
):
    async def lost_at_once():
        shared = SharedConnection(redis.asyncio.ConnectionPool.from_url(clean_redis))
        connect = shared._connect

        async def connect_and_lose():
            connection = await connect()
            shared._fail(connection, redis.ConnectionError("lost as it opened"))
            return connection

        shared._connect = connect_and_lose
        with pytest.raises(redis.ConnectionError):
            await asyncio.wait_for(shared.call(("PING",)), timeout=2)
        shared._connect = connect
        try:
            return await asyncio.wait_for(shared.call(("PING",)), timeout=2)
        finally:
            await shared.close()

    assert asyncio.run(lost_at_once()) == b"PONG"


def test_a_reply_no_call_waits_for_fails_the_connection_and_leaves_no_call_hanging(clean_redis):
    async def stray_reply():
        shared = SharedConnection(redis.asyncio.ConnectionPool.from_url(clean_redis))
        await shared.call(("PING",))
        connection = shared._connection
        connection._writer.write(connection.pack_command("PING")[0])  # answered to no call
        await asyncio.sleep(0.2)
        try:
            return connection is shared._connection, await asyncio.wait_for(
                shared.call(("PING",)), timeout=2
            )
        finally:
            await shared.close()

    # The connection whose replies no longer match its calls was dropped; a new one answers.
    assert asyncio.run(stray_reply()) == (False, b"PONG")


def test_a_large_call_reaches_redis_before_its_caller_gives_the_loop_back(clean_redis):
    r = redis.Redis.from_url(clean_redis)
    r.delete("small", "large")
    large = "x" * WRITE_AT_ONCE

    async def busy_after_calling():
        client = client_of(clean_redis)
        await client.ping()  # connected
        small = asyncio.ensure_future(client.set("small", "1"))
        sending = asyncio.ensure_future(client.set("large", large))
        await asyncio.sleep(0)  # both calls made
        # The loop stays busy, as an API process making an answer: the large
        # call went out when it was made, with the small one before it.
        arrived = wait_until(lambda: r.exists("large"))
        seen = [r.get("small"), r.strlen("large")]
        await asyncio.gather(small, sending)
        return arrived, seen

    arrived, seen = asyncio.run(busy_after_calling())

    assert arrived
    assert seen == [b"1", WRITE_AT_ONCE]


def wait_until(condition, seconds: float = 5) -> bool:
    """Whether ``condition`` holds within ``seconds``, asked without giving the loop back."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
