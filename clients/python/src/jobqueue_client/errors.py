"""The errors a client raises: one class per kind of answer a caller handles differently."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from .models import Job, Problem


class JobQueueError(Exception):
    """Anything that kept a call from doing what it was asked."""


class ApiError(JobQueueError):
    """The service answered with an error; ``problem`` is its RFC 9457 document."""

    status: int

    def __init__(self, problem: Problem, retry_after: float | None = None):
        super().__init__(f"{problem.status} {problem.title}: {problem.detail or ''}".rstrip(": "))
        self.problem = problem
        self.status = problem.status
        #: Seconds the service asked to wait before trying again, if it said.
        self.retry_after = retry_after


class InvalidRequest(ApiError):
    """400 or 422: the request or the job's arguments do not fit (nothing was done)."""


class Unauthorized(ApiError):
    """401: an API key is needed, or the one given is not known."""


class NotFound(ApiError):
    """404: no such job, or it has expired."""


class Conflict(ApiError):
    """409: the job is not in a state that allows this (cancelling an ended job)."""


class RateLimited(ApiError):
    """429: too many submissions from this client; try again after ``retry_after``."""


class Unavailable(ApiError):
    """503: the service cannot answer now (its Redis is away, or it is busy); nothing was done."""


class ConnectionFailed(JobQueueError):
    """The service could not be reached."""


class WaitTimeout(JobQueueError):
    """The job had not ended when the time given to wait for it was up."""

    def __init__(self, job: Job):
        super().__init__(f"job {job.id} is still {job.state} after waiting")
        self.job = job


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    415: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
    503: Unavailable,
}


def error_for(response: httpx.Response) -> ApiError:
    """The error ``response`` stands for, with its problem document (or one made up)."""
    try:
        problem = Problem.model_validate_json(response.content)
    except ValidationError:
        problem = Problem(
            title=response.reason_phrase or "Error",
            status=response.status_code,
            detail=response.text[:500] or None,
        )
    retry_after = response.headers.get("Retry-After")
    kind = _BY_STATUS.get(response.status_code, ApiError)
    return kind(problem, float(retry_after) if retry_after and retry_after.isdigit() else None)
