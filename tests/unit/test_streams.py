"""Event streams are coroutines: no thread and no Redis connection of their own each."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import redis
from falcon import testing

from actors import lifecycle, submission
from actors.job_request import JobOptions, JobRequest
from services.api.app import create_app

#: Streams this test holds open at once, over JOBS jobs.
STREAMS, JOBS = 60, 20


async def read_until(stream: testing.StreamedResult, marker: bytes, timeout: float = 10) -> bytes:
    seen = b""
    async with asyncio.timeout(timeout):
        while marker not in seen:
            seen += await stream.stream.read()
    return seen


def test_open_streams_share_one_subscription_and_each_hears_its_job_end(settings, queue):
    server = redis.Redis.from_url(settings.redis_url)
    later = JobRequest(actor="add", args=[1, 2], options=JobOptions(delay=600))
    _created, records = submission.submit_many(queue, [later] * JOBS)
    job_ids = [record.id for record in records]
    app = create_app(settings, queue)

    async def follow_them_all() -> None:
        async with testing.ASGIConductor(app) as conductor, contextlib.AsyncExitStack() as held:
            await conductor.simulate_get("/readyz")  # the pool's first connection
            threads, clients = threading.active_count(), server.info("clients")["connected_clients"]
            streams = []
            for number in range(STREAMS):
                path = f"/jobs/{job_ids[number % JOBS]}/events"
                stream = await held.enter_async_context(conductor.simulate_get_stream(path))
                assert stream.status_code == 200
                await read_until(stream, b'"state":"delayed"')
                streams.append(stream)

            assert threading.active_count() == threads
            # The subscription is the only connection the streams added.
            assert server.info("clients")["connected_clients"] <= clients + 1
            for job_id in job_ids:
                queue.store.write(job_id, lifecycle.cancel())
            for stream in streams:
                await read_until(stream, b'"state":"cancelled"')

    asyncio.run(follow_them_all())


def test_streams_opened_all_at_once_share_one_subscription_and_each_hears_its_job_end(
    settings, queue
):
    # Each the first to follow its job, so each subscribes, all in one turn of the loop.
    later = JobRequest(actor="add", args=[1, 2], options=JobOptions(delay=600))
    _created, records = submission.submit_many(queue, [later] * STREAMS)
    server = redis.Redis.from_url(settings.redis_url)
    app = create_app(settings, queue)

    async def follow_them_all() -> None:
        opened = asyncio.Semaphore(0)

        async def follow(conductor: testing.ASGIConductor, job_id: str) -> bytes:
            async with conductor.simulate_get_stream(f"/jobs/{job_id}/events") as stream:
                await read_until(stream, b'"state":"delayed"')
                opened.release()
                return await read_until(stream, b'"state":"cancelled"')

        async with testing.ASGIConductor(app) as conductor:
            following = asyncio.gather(*(follow(conductor, record.id) for record in records))
            for _ in records:
                async with asyncio.timeout(10):
                    await opened.acquire()
            subscribed = [client for client in server.client_list() if int(client["sub"])]
            assert len(subscribed) == 1
            for record in records:
                queue.store.write(record.id, lifecycle.cancel())
            await following

    asyncio.run(follow_them_all())


def test_a_wait_returns_when_the_job_ends_not_when_the_wait_does(client, queue):
    later = JobRequest(actor="add", args=[1, 2], options=JobOptions(delay=600))
    _created, record = submission.submit(queue, later)
    wait = 10
    ended = threading.Timer(0.5, queue.store.write, args=(record.id, lifecycle.cancel()))
    ended.start()

    asked = time.monotonic()
    result = client.simulate_get(f"/jobs/{record.id}", params={"wait": wait})
    ended.join()

    assert result.json["state"] == "cancelled"
    assert time.monotonic() - asked < wait
