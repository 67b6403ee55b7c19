"""The blocking client."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from . import exchanges
from .errors import ConnectionFailed
from .events import READ_TIMEOUT_SECONDS, Follow
from .exchanges import Exchange, Retries, Send
from .models import Actor, Event, Job, JobList, JobRequest, State

T = TypeVar("T")

#: Where the service is when no URL is given and JOBQUEUE_URL is not set.
DEFAULT_URL = "http://localhost"


def connection(
    url: str | None, api_key: str | None, timeout: float
) -> tuple[str, dict[str, str], httpx.Timeout]:
    """The base URL, headers and timeout both clients open their connections with.

    ``url`` and ``api_key`` default to the environment's JOBQUEUE_URL and JOBQUEUE_API_KEY.
    """
    url = url or os.environ.get("JOBQUEUE_URL") or DEFAULT_URL
    api_key = api_key or os.environ.get("JOBQUEUE_API_KEY")
    headers = {"User-Agent": "jobqueue-client"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return url.rstrip("/"), headers, httpx.Timeout(timeout)


def stream_timeout(timeout: httpx.Timeout) -> httpx.Timeout:
    return httpx.Timeout(timeout.connect, read=READ_TIMEOUT_SECONDS)


class Calls:
    """The calls both clients offer, each one exchange (``exchanges.py``) run by ``_run``.

    :class:`Client` runs them blocking; :class:`~jobqueue_client.AsyncClient`
    runs them on asyncio, so there each call returns an awaitable. Only the
    I/O differs: opening the connection, ``_run``, and the iterators.

    ``url``: the service's load balancer (JOBQUEUE_URL, else http://localhost);
    ``api_key``: sent as a bearer token (JOBQUEUE_API_KEY); ``timeout``: seconds
    for one request; ``retries``: how calls are tried again (see
    :class:`Retries`). ``transport``: httpx's, for a client of its kind.
    """

    #: The httpx client class whose I/O runs the exchanges.
    http_class: type[httpx.Client] | type[httpx.AsyncClient]

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: Retries | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ):
        base_url, headers, self.timeout = connection(url, api_key, timeout)
        self.retries = retries or Retries()
        self.http = self.http_class(
            base_url=base_url,
            headers=headers,
            timeout=self.timeout,
            transport=transport,  # type: ignore[arg-type]
        )

    def _run(self, exchange: Exchange[T]) -> Any:
        raise NotImplementedError

    def submit(
        self,
        actor: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Job:
        """Submit one job; ``options`` are ``delay``, ``max_retries``, ``time_limit``, ``priority``.

        Every submission carries an idempotency key (``idempotency_key``, or one
        made up): a retried submission returns the job the first one made.
        """
        job = exchanges.request(actor, args, kwargs, **options)
        return self._run(exchanges.submit(job, idempotency_key, self.retries))

    def submit_batch(
        self, jobs: Iterable[JobRequest], *, idempotency_key: str | None = None
    ) -> list[Job]:
        """Submit many jobs at once, all or none (make each with :func:`request`)."""
        return self._run(exchanges.submit_batch(jobs, idempotency_key, self.retries))

    def get(self, job_id: str) -> Job:
        return self._run(exchanges.get(job_id, self.retries))

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """The job once it has ended; :class:`WaitTimeout` if not within ``timeout`` seconds."""
        return self._run(exchanges.wait(job_id, timeout, self.retries))

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a waiting one never runs, a running one is interrupted."""
        return self._run(exchanges.cancel(job_id, self.retries))

    def retry(self, job_id: str) -> Job:
        """Run a failed or dead job again, under the same id."""
        return self._run(exchanges.retry(job_id, self.retries))

    def list(
        self,
        *,
        state: State | str | None = None,
        actor: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobList:
        """One page of jobs, newest first; pass its ``next_cursor`` as ``cursor`` for the next."""
        exchange = exchanges.list_jobs(
            self.retries, state=state, actor=actor, limit=limit, cursor=cursor
        )
        return self._run(exchange)

    def actors(self) -> list[Actor]:
        """The jobs a client may submit, with their parameters."""
        return self._run(exchanges.actors(self.retries))


class Client(Calls):
    """Submit and follow jobs of a jobqueue service (see :class:`Calls` for the arguments).

    Use it as a context manager, or :meth:`close` it.
    """

    http_class = httpx.Client

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _run(self, exchange: Exchange[T]) -> T:
        step = next(exchange)
        while True:
            try:
                if isinstance(step, Send):
                    try:
                        response = self.http.request(**step.arguments(self.timeout))
                    except httpx.TransportError as error:
                        step = exchange.throw(error)
                        continue
                    step = exchange.send(response)
                else:
                    time.sleep(step)
                    step = exchange.send(None)  # type: ignore[arg-type]
            except StopIteration as stop:
                return stop.value

    def iterate(
        self, *, state: State | str | None = None, actor: str | None = None
    ) -> Iterator[Job]:
        """Every job, newest first, a page at a time."""
        cursor = None
        while True:
            page = self.list(state=state, actor=actor, cursor=cursor)
            yield from page.jobs
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def events(self, job_id: str, *, after: str | None = None) -> Iterator[Event]:
        """The job's events as they happen (after event ``after``), until it ends."""
        follow = Follow(job_id, self.retries, after)
        while not follow.done:
            send = follow.send()
            arguments = send.arguments(stream_timeout(self.timeout))
            pause = None
            try:
                with self.http.stream(**arguments) as response:
                    pause = follow.opened(response)
                    if pause is None and not follow.done:
                        for line in response.iter_lines():
                            event = follow.line(line)
                            if event is not None:
                                yield event
            except httpx.TransportError as error:
                pause = follow.failed(ConnectionFailed(f"{send.path}: {error or error!r}"))
            if pause:
                time.sleep(pause)
