"""The API's Redis client: the calls of one tick share one round trip, on a real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis

from actors.connection import RedisConfig, async_client


def client_of(url: str):
    return async_client(RedisConfig(url), max_connections=4, wait_seconds=1)


def reads(r: redis.Redis) -> int:
    """Requests Redis has read from clients, the INFO asking for it not counted."""
    return r.info("stats")["total_reads_processed"]


def test_concurrent_calls_are_one_round_trip_each_with_its_own_reply(clean_redis):
    r = redis.Redis.from_url(clean_redis)
    for number in range(50):
        r.hset(f"job:{number}", "number", number)

    async def fifty_at_once():
        client = client_of(clean_redis)
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
