"""The asyncio client: :class:`Client`'s calls, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

import httpx

from .client import Calls, stream_timeout
from .errors import ConnectionFailed
from .events import Follow
from .exchanges import Exchange, Send
from .models import Event, Job, State

T = TypeVar("T")


class AsyncClient(Calls):
    """Submit and follow jobs of a jobqueue service from asyncio code, as :class:`Client` does.

    Each of :class:`Calls`' calls returns an awaitable here. Use it as an
    async context manager, or :meth:`close` it.
    """

    http_class = httpx.AsyncClient

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
