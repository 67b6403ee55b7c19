"""A client for the jobqueue service's HTTP API: blocking (:class:`Client`) and asyncio
(:class:`AsyncClient`), and the ``jobqueue`` command on them."""

from .aio import AsyncClient
from .client import Client
from .errors import (
    ApiError,
    Conflict,
    ConnectionFailed,
    InvalidRequest,
    JobQueueError,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from .exchanges import Retries
from .exchanges import request as job_request
from .models import (
    Actor,
    Event,
    Failure,
    Job,
    JobEvent,
    JobList,
    JobOptions,
    JobRequest,
    Parameter,
    Priority,
    Problem,
    Progress,
    State,
)

__all__ = [
    "Actor",
    "ApiError",
    "AsyncClient",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Event",
    "Failure",
    "InvalidRequest",
    "Job",
    "JobEvent",
    "JobList",
    "JobOptions",
    "JobQueueError",
    "JobRequest",
    "NotFound",
    "Parameter",
    "Priority",
    "Problem",
    "Progress",
    "RateLimited",
    "Retries",
    "State",
    "Unauthorized",
    "Unavailable",
    "WaitTimeout",
    "job_request",
]
