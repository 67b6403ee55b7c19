"""What each call sends and how it reads the answer, written once for both clients.

An exchange is a generator: it yields a :class:`Send` (a request to make) or a
number of seconds to sleep, and is sent back the response. :class:`Client`
drives it with blocking I/O, :class:`AsyncClient` with asyncio; the retries,
the waiting and the reading of answers are the same in both.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from .errors import ConnectionFailed, RateLimited, Unavailable, WaitTimeout, error_for
from .models import Actor, ActorList, BatchResult, Job, JobList, JobRequest, Priority, State

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: The longest single ``?wait=`` asked for; a longer wait asks again. Below the
#: service's MAX_WAIT_SECONDS default (60), which refuses more.
WAIT_STEP_SECONDS = 30.0


@dataclass(frozen=True)
class Send:
    """One HTTP request, as ``httpx.Client.request`` takes it."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds to wait for the answer beyond the client's own timeout (a ``?wait=``).
    extra_time: float = 0.0

    def arguments(self, timeout: httpx.Timeout) -> dict[str, Any]:
        """What ``httpx.Client.request`` is called with, given the client's ``timeout``."""
        if self.extra_time:
            timeout = httpx.Timeout(timeout.connect, read=(timeout.read or 0) + self.extra_time)
        return {
            "method": self.method,
            "url": self.path,
            "params": self.params,
            "json": self.json,
            "headers": self.headers,
            "timeout": timeout,
        }


Exchange = Generator[Send | float, httpx.Response, T]


@dataclass(frozen=True)
class Retries:
    """How often, and after how long, a call is tried again.

    A call is tried again when the service was not reached, or answered 429
    or 503 (nothing was done). When the request may have reached it, only a
    call that is safe to repeat is sent again: a read, or a submission with
    its idempotency key.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 10.0

    def delay(self, attempt: int) -> float:
        return min(self.backoff * 2**attempt, self.max_backoff)


def call(
    send: Send, read: Callable[[httpx.Response], T], retries: Retries, *, repeatable: bool
) -> Exchange[T]:
    """Send ``send`` until it is answered (as ``retries`` allow), and read the answer."""
    for attempt in range(retries.attempts):
        last = attempt == retries.attempts - 1
        try:
            response = yield send
        except httpx.TransportError as error:
            # A refused connection sent nothing; any other failure may have.
            if last or not (repeatable or isinstance(error, httpx.ConnectError)):
                raise ConnectionFailed(f"{send.method} {send.path}: {_reason(error)}") from error
            yield retries.delay(attempt)
            continue
        if response.is_success:
            return read(response)
        error = error_for(response)
        if last or not isinstance(error, RateLimited | Unavailable):
            raise error
        yield error.retry_after if error.retry_after is not None else retries.delay(attempt)
    raise AssertionError("unreachable")


def _reason(error: httpx.TransportError) -> str:
    """What went wrong: httpx's message, else the kind of failure (some carry no message)."""
    return str(error) or type(error).__name__


def model(kind: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: kind.model_validate_json(response.content)


def _options(**given: Any) -> dict[str, Any]:
    return {name: value for name, value in given.items() if value is not None}


def request(
    actor: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    delay: float | None = None,
    max_retries: int | None = None,
    time_limit: float | None = None,
    priority: Priority | Literal["high", "normal", "low"] | None = None,
) -> JobRequest:
    """One job to submit. Options left out are as the job is declared. Times are seconds."""
    options = _options(
        delay=delay, max_retries=max_retries, time_limit=time_limit, priority=priority
    )
    return JobRequest(actor=actor, args=list(args), kwargs=dict(kwargs or {}), options=options)


def _key(idempotency_key: str | None) -> dict[str, str]:
    # Made up once per call, so that every retry of the call carries the same one.
    return {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}


def submit(job: JobRequest, idempotency_key: str | None, retries: Retries) -> Exchange[Job]:
    send = Send("POST", "/jobs", json=job.model_dump(), headers=_key(idempotency_key))
    return call(send, model(Job), retries, repeatable=True)


def submit_batch(
    jobs: Iterable[JobRequest], idempotency_key: str | None, retries: Retries
) -> Exchange[list[Job]]:
    body = {"jobs": [job.model_dump() for job in jobs]}
    send = Send("POST", "/jobs/batch", json=body, headers=_key(idempotency_key))
    read = model(BatchResult)
    return call(send, lambda response: read(response).jobs, retries, repeatable=True)


def get(job_id: str, retries: Retries, *, wait: float | None = None) -> Exchange[Job]:
    params = None if not wait else {"wait": f"{wait:g}"}
    send = Send("GET", f"/jobs/{job_id}", params=params, extra_time=wait or 0.0)
    return call(send, model(Job), retries, repeatable=True)


def wait(job_id: str, timeout: float | None, retries: Retries) -> Exchange[Job]:
    """The job once it has ended; :class:`WaitTimeout` if it has not within ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = WAIT_STEP_SECONDS if deadline is None else deadline - time.monotonic()
        job = yield from get(job_id, retries, wait=max(0.0, min(remaining, WAIT_STEP_SECONDS)))
        if job.ended:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeout(job)


def cancel(job_id: str, retries: Retries) -> Exchange[Job]:
    return call(Send("DELETE", f"/jobs/{job_id}"), model(Job), retries, repeatable=False)


def retry(job_id: str, retries: Retries) -> Exchange[Job]:
    send = Send("POST", f"/jobs/{job_id}/retry")
    return call(send, model(Job), retries, repeatable=False)


def list_jobs(
    retries: Retries,
    *,
    state: State | str | None = None,
    actor: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Exchange[JobList]:
    params = _options(state=state, actor=actor, limit=limit, cursor=cursor)
    return call(Send("GET", "/jobs", params=params), model(JobList), retries, repeatable=True)


def actors(retries: Retries) -> Exchange[list[Actor]]:
    read = model(ActorList)
    return call(Send("GET", "/actors"), lambda r: read(r).actors, retries, repeatable=True)
