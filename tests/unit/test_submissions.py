"""Requests that submit at once share one script call, and each gets its own answer.

The API in process on a real Redis, its requests run concurrently on one
event loop, as gunicorn's worker runs them: each test runs on one loop, the
one the API's Redis connection belongs to.
"""

from __future__ import annotations

import asyncio

import falcon.testing
import pytest
import redis

from services.api.app import create_app

from ..support import assert_problem

#: dramatiq's Redis broker's list of the messages waiting to run.
READY = "dramatiq:default"

Request = tuple[str, str, dict]


@pytest.fixture
def r(clean_redis) -> redis.Redis:
    return redis.Redis.from_url(clean_redis)


def script_calls(r: redis.Redis) -> int:
    return r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)


def posted(n: int, **options) -> Request:
    return ("POST", "/jobs", {"json": {"actor": "add", "args": [n, 1]}, **options})


def page(n: int) -> Request:
    return ("GET", "/template", {"query_string": f"name=n{n}"})


async def together(conductor: falcon.testing.ASGIConductor, requests: list[Request]) -> list:
    """The requests, sent at once."""
    return await asyncio.gather(
        *(conductor.simulate_request(method, path, **options) for method, path, options in requests)
    )


def test_jobs_submitted_at_once_are_written_by_one_script_call_each_as_asked(settings, queue, r):
    async def scenario():
        async with falcon.testing.ASGIConductor(create_app(settings, queue)) as conductor:
            # The first call of a process loads the script, a call of its own.
            assert (await conductor.simulate_request(*page(-1)[:2])).status_code == 202
            before = script_calls(r)
            answers = await together(
                conductor, [posted(n) for n in range(10)] + [page(n) for n in range(10)]
            )
            calls = script_calls(r) - before
            records = [await conductor.simulate_get(a.headers["location"]) for a in answers]
        return answers, calls, [record.json for record in records]

    answers, calls, records = asyncio.run(scenario())

    assert [answer.status_code for answer in answers] == [202] * 20
    assert calls == 1
    # Each request got a job of its own, recorded as it asked, and queued.
    assert len({record["id"] for record in records}) == 20
    assert [record["args"] for record in records[:10]] == [[n, 1] for n in range(10)]
    assert [record["kwargs"] for record in records[10:]] == [{"name": f"n{n}"} for n in range(10)]
    assert {record["state"] for record in records} == {"queued"}
    for n, shown in enumerate(answers[10:]):
        assert f"<dd>n{n}</dd>" in shown.text
    assert r.llen(READY) == 1 + 20


def test_a_reused_idempotency_key_refuses_its_own_request_alone(settings, queue, r):
    keyed = {"headers": {"Idempotency-Key": "k"}}

    async def scenario():
        async with falcon.testing.ASGIConductor(create_app(settings, queue)) as conductor:
            first = await conductor.simulate_request(
                *posted(0, **keyed)[:2], **posted(0, **keyed)[2]
            )
            assert first.status_code == 202
            # The same key, another request, among requests of no key.
            return await together(
                conductor,
                [posted(n) for n in range(5)]
                + [posted(1, **keyed)]
                + [posted(n) for n in range(5, 10)],
            )

    answers = asyncio.run(scenario())

    assert_problem(answers[5], 422, "Idempotency-Key was used before with another request")
    accepted = answers[:5] + answers[6:]
    assert [answer.status_code for answer in accepted] == [202] * 10
    assert [answer.json["args"][0] for answer in accepted] == list(range(10))
    assert r.llen(READY) == 1 + 10


def test_requests_submitting_at_once_while_redis_is_away_are_each_a_503(unreachable_settings):
    async def scenario():
        async with falcon.testing.ASGIConductor(create_app(unreachable_settings)) as conductor:
            return await together(conductor, [posted(n) for n in range(5)] + [page(0)])

    for answer in asyncio.run(scenario()):
        assert_problem(answer, 503)
        assert int(answer.headers["retry-after"]) > 0
