"""The dramatiq middleware every broker of this service runs, ours among them."""

from __future__ import annotations

from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
)

from ..dispatch import Dispatch
from ..lifecycle import JobCancelled
from ..store import JobStore
from .cancellation import Cancellation
from .heartbeat import Heartbeat
from .job_state import JobState
from .limits import Limits
from .metrics import Metrics
from .time_limit import TimeLimit

__all__ = [
    "ACTOR_OPTIONS",
    "Cancellation",
    "Dispatch",
    "Heartbeat",
    "JobCancelled",
    "JobState",
    "Limits",
    "Metrics",
    "broker_middleware",
]


def broker_middleware(
    store: JobStore | None, *, time_limit_ms: int, max_retries: int, min_backoff_ms: int
) -> list[Middleware]:
    """The middleware a broker runs, in order, with the job-wide defaults given."""
    return [
        AgeLimit(),
        TimeLimit(time_limit=time_limit_ms),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        # Before Cancellation and JobState: a job set aside for its limits has not started.
        Limits(store),
        # Before Retries: dramatiq runs after_* hooks in reverse order, so
        # JobState's after_process_message runs once Retries has decided
        # whether the message is retried or failed.
        Cancellation(store),
        JobState(store),
        Metrics(),
        Retries(max_retries=max_retries, min_backoff=min_backoff_ms),
        CurrentMessage(),
        Heartbeat(),
        Dispatch(),
    ]


#: The options a job may be declared with: those the installed middleware
#: read, as a dramatiq broker's ``actor_options`` would say (the values given
#: here are irrelevant; only the names are read).
ACTOR_OPTIONS = frozenset().union(
    *(
        middleware.actor_options
        for middleware in broker_middleware(None, time_limit_ms=1, max_retries=0, min_backoff_ms=1)
    )
)
