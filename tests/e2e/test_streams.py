"""Thousands of event streams on a stack sized as the defaults: each costs no thread.

Every stream is a coroutine in an API process, woken through one Redis
subscription per process: neither threads nor Redis connections grow with
the streams, and ordinary requests answer while they are open.
"""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path

import pytest
import redis

import actors
from actors import lifecycle, submission
from actors.job_request import JobOptions, JobRequest
from services.settings import Settings
from services.stack.supervisor import group_members

from .conftest import RunningStack, stack_settings, start_stack

#: Streams held open at once, over JOBS jobs: several follow each job.
STREAMS, JOBS = 5_000, 500
#: Streams opened at once while the test builds them up.
OPENING = 250


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory) -> RunningStack:
    """Two instances of two processes each, taking as many streams as they do by default."""
    settings = stack_settings(api_processes=2, stream_slots=Settings().stream_slots, workers=1)
    running = start_stack(tmp_path_factory.mktemp("streams"), settings)
    try:
        yield running
    finally:
        running.stack.stop()


@pytest.fixture
def open_files_for_streams():
    """Room for this process's end of every stream (a socket each)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = STREAMS + 1_000
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(
            f"holding {STREAMS} streams needs {needed} open files; the hard limit is {hard}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def api_threads(stack: RunningStack) -> int:
    """Threads of every API process."""
    groups = [
        process.pid
        for name, process in stack.stack.supervisor.processes.items()
        if name.startswith("api.")
    ]
    return sum(
        len(list(Path(f"/proc/{pid}/task").iterdir()))
        for group in groups
        for pid in group_members(group)
    )


class Stream:
    """One event stream through the load balancer, read as raw HTTP."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, path: str) -> Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        stream = cls(reader, writer)
        try:
            head = await stream.until(b"retry: 1000")
        except asyncio.IncompleteReadError as error:
            head = error.partial
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"retry: 1000"), head[:300]
        return stream

    async def until(self, marker: bytes, timeout: float = 60) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(marker), timeout)

    def close(self) -> None:
        self.writer.close()


async def open_streams(port: int, job_ids: list[str]) -> list[Stream]:
    streams: list[Stream] = []
    for start in range(0, STREAMS, OPENING):
        streams += await asyncio.gather(
            *(
                Stream.open(port, f"/jobs/{job_ids[n % JOBS]}/events")
                for n in range(start, start + OPENING)
            )
        )
    return streams


def test_five_thousand_streams_hold_no_thread_and_ordinary_requests_answer(
    default_stack, open_files_for_streams
):
    stack = default_stack
    queue = actors.connect(stack.settings.queue_config())
    delayed = JobRequest(actor="add", args=[1, 2], options=JobOptions(delay=600))
    _created, records = submission.submit_many(queue, [delayed] * JOBS)
    job_ids = [record.id for record in records]
    server = redis.Redis.from_url(stack.settings.effective_redis_url)
    threads, clients = api_threads(stack), server.info("clients")["connected_clients"]

    async def scenario() -> None:
        streams = await open_streams(stack.stack.lb_port, job_ids)
        try:
            # While every stream is open, ordinary requests answer, a job runs.
            answers = await asyncio.to_thread(
                lambda: [
                    stack.get("/healthz").status_code,
                    stack.get("/jobs", params={"limit": 5}).status_code,
                ]
            )
            assert answers == [200, 200]
            added = await asyncio.to_thread(stack.submit, "add", args=[2, 3])
            record = await asyncio.to_thread(stack.ended, added)
            assert record["result"] == 5
            # Streams took no thread, and no Redis connection each.
            assert api_threads(stack) == threads
            assert server.info("clients")["connected_clients"] < clients + STREAMS // 10
            # Each stream hears its job's end.
            for job_id in job_ids:
                queue.store.write(job_id, lifecycle.cancel())
            await asyncio.gather(*(stream.until(b'"state":"cancelled"') for stream in streams))
        finally:
            for stream in streams:
                stream.close()

    asyncio.run(scenario())
