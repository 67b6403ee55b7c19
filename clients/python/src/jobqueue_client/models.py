"""What the API answers, as the models its OpenAPI document names them.

Field for field the API's own (``services/api/models.py``), written again
rather than imported: the client installs with pip on its own and never
imports the service. ``tests/unit/test_client_models.py`` holds the two
together (fields, states, priorities), so a change to one fails until the
other follows. Unknown fields are ignored, so that a client keeps working when the
service adds some.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


#: A time, written back (``jobqueue --json``) as the service writes it: ISO 8601
#: to the millisecond with its offset, ``2026-12-06T22:00:01.500+00:00``.
Time = Annotated[
    datetime,
    PlainSerializer(lambda at: at.isoformat(timespec="milliseconds"), when_used="json"),
]


class State(StrEnum):
    """Every state a job can be in."""

    WAITING = "waiting"
    QUEUED = "queued"
    DELAYED = "delayed"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"

    @property
    def ended(self) -> bool:
        """Nothing more happens to a job in this state unless someone retries it."""
        return self in _ENDED


_ENDED = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED, State.DEAD})


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class JobOptions(_Model):
    """How a job runs. Times are seconds."""

    delay: float = 0
    max_retries: int | None = None
    time_limit: float | None = None
    priority: Priority = Priority.NORMAL


class Progress(_Model):
    value: float
    message: str


class Failure(_Model):
    """Why the last attempt of a job failed."""

    type: str
    message: str
    #: Its end, as the worker printed it.
    traceback: str | None = None


class Links(_Model):
    self: str
    events: str


class StepLink(_Model):
    """Which workflow a job is a step of, and which step."""

    id: str
    step: int


class Job(_Model):
    """One job's record."""

    id: str
    actor: str
    queue: str | None = None
    state: State
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    options: JobOptions | None = None
    attempts: int = 0
    enqueued_at: Time | None = None
    eta: Time | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    updated_at: Time | None = None
    progress: Progress | None = None
    result: Any = None
    error: Failure | None = None
    worker_name: str | None = None
    workflow: StepLink | None = None
    links: Links | None = None

    @property
    def ended(self) -> bool:
        return self.state.ended


class JobList(_Model):
    """A page of jobs, newest first; ``next_cursor`` asks for the next page."""

    jobs: list[Job]
    next_cursor: str | None = None


class BatchResult(_Model):
    jobs: list[Job]


class JobEvent(_Model):
    """One change in a job's life: a new state, or a progress report."""

    state: State
    at: Time
    progress: Progress | None = None
    error: Failure | None = None
    result: Any = None


class Event(_Model):
    """A job event as the stream delivers it: its id (to resume after) and its kind."""

    id: str
    kind: str
    data: JobEvent


class Parameter(_Model):
    name: str
    type: str | None = None
    required: bool
    default: Any = None
    json_schema: dict[str, Any] = Field(default_factory=dict)


class Actor(_Model):
    """A job a client may submit."""

    name: str
    description: str
    queue: str
    priorities: list[Priority]
    parameters: list[Parameter]
    max_retries: int | None = None
    time_limit: float | None = None
    #: At most this many run at once, across every worker (None: no limit).
    concurrency: int | None = None
    #: At most this many start per period, as "100/s" (None: no limit).
    rate: str | None = None


class ActorList(_Model):
    actors: list[Actor]


class Problem(_Model):
    """An error, as RFC 9457 describes it."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None


class JobRequest(_Model):
    """One job to submit, as in a batch."""

    actor: str
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
