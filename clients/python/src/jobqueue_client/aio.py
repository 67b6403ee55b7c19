"""The asyncio client: :class:`Client`'s calls, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from . import exchanges
from .client import connection, stream_timeout
from .errors import ConnectionFailed
from .events import Follow
from .exchanges import Exchange, Retries, Send
from .models import Actor, Event, Job, JobList, JobRequest, State

T = TypeVar("T")


class AsyncClient:
    """Submit and follow jobs of a jobqueue service from asyncio code; as :class:`Client`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: Retries | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        base_url, headers, self.timeout = connection(url, api_key, timeout)
        self.retries = retries or Retries()
        self.http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=self.timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def _run(self, exchange: Exchange[T]) -> T:
        step = next(exchange)
        while True:
            try:
                if isinstance(step, Send):
                    try:
                        response = await self.http.request(**step.arguments(self.timeout))
                    except httpx.TransportError as error:
                        step = exchange.throw(error)
                        continue
                    step = exchange.send(response)
                else:
                    await asyncio.sleep(step)
                    step = exchange.send(None)  # type: ignore[arg-type]
            except StopIteration as stop:
                return stop.value

    async def submit(
        self,
        actor: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Job:
        """As :meth:`Client.submit`."""
        job = exchanges.request(actor, args, kwargs, **options)
        return await self._run(exchanges.submit(job, idempotency_key, self.retries))

    async def submit_batch(
        self, jobs: Iterable[JobRequest], *, idempotency_key: str | None = None
    ) -> list[Job]:
        return await self._run(exchanges.submit_batch(jobs, idempotency_key, self.retries))

    async def get(self, job_id: str) -> Job:
        return await self._run(exchanges.get(job_id, self.retries))

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:
        return await self._run(exchanges.wait(job_id, timeout, self.retries))

    async def cancel(self, job_id: str) -> Job:
        return await self._run(exchanges.cancel(job_id, self.retries))

    async def retry(self, job_id: str) -> Job:
        return await self._run(exchanges.retry(job_id, self.retries))

    async def list(
        self,
        *,
        state: State | str | None = None,
        actor: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobList:
        exchange = exchanges.list_jobs(
            self.retries, state=state, actor=actor, limit=limit, cursor=cursor
        )
        return await self._run(exchange)

    async def iterate(
        self, *, state: State | str | None = None, actor: str | None = None
    ) -> AsyncIterator[Job]:
        cursor = None
        while True:
            page = await self.list(state=state, actor=actor, cursor=cursor)
            for job in page.jobs:
                yield job
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def actors(self) -> list[Actor]:
        return await self._run(exchanges.actors(self.retries))

    async def events(self, job_id: str, *, after: str | None = None) -> AsyncIterator[Event]:
        follow = Follow(job_id, self.retries, after)
        while not follow.done:
            send = follow.send()
            arguments = send.arguments(stream_timeout(self.timeout))
            pause = None
            try:
                async with self.http.stream(**arguments) as response:
                    pause = follow.opened(response)
                    if pause is None and not follow.done:
                        async for line in response.aiter_lines():
                            event = follow.line(line)
                            if event is not None:
                                yield event
            except httpx.TransportError as error:
                pause = follow.failed(ConnectionFailed(f"{send.path}: {error or error!r}"))
            if pause:
                await asyncio.sleep(pause)
