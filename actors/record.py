"""What the store keeps of a job: its record, its progress and failure, and its events.

Times are milliseconds since the epoch. The store (``store.py``) writes and
reads records; the lifecycle (``lifecycle.py``) decides what changes in them.

The client writes :class:`Progress` and :class:`Failure` again
(``clients/python/src/jobqueue_client/models.py``), on purpose: it installs
with pip on its own and never imports the service.
``tests/unit/test_client_models.py`` fails until both agree.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from pydantic import BaseModel, Field

from .job_request import JobOptions
from .states import TERMINAL_STATES, State

#: Kinds of event a job's history holds: a change of state, or a progress report.
EVENT_KINDS = ("state", "progress")

#: The record field kept as plain text, so that the store's scripts can compare it.
STATE_FIELD = "state"
#: Fields that say what a job is rather than what happened to it: kept out of events.
IDENTITY_FIELDS = frozenset(
    {
        "id",
        "actor",
        "queue",
        "args",
        "kwargs",
        "options",
        "enqueued_at",
        "redis_message_id",
        "workflow",
    }
)


class Progress(BaseModel):
    value: float = Field(ge=0, le=1)
    message: str


#: The most a record keeps of a failure's message, and of its traceback (their ends).
MAX_MESSAGE_CHARS = 2000
MAX_TRACEBACK_CHARS = 8000


class Failure(BaseModel):
    """Why the last attempt of a job failed: the exception's type, message and traceback.

    The traceback is what the worker printed; only its end is kept (the frame
    that raised), so that a deep recursion cannot fill Redis.
    """

    type: str
    message: str
    traceback: str | None = None


class StepLink(BaseModel):
    """Which workflow a job is a step of, and which step."""

    id: str
    step: int


class JobRecord(BaseModel):
    """What the store keeps of one job. Times are milliseconds since the epoch."""

    id: str
    actor: str
    queue: str | None = None
    state: State
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    options: JobOptions | None = None
    attempts: int = Field(0, ge=0)
    enqueued_at: int | None = None
    eta: int | None = None
    started_at: int | None = None
    finished_at: int | None = None
    updated_at: int | None = None
    progress: Progress | None = None
    result: Any = None
    error: Failure | None = None
    #: Where the broker keeps the message (its dead letters are found by it).
    redis_message_id: str | None = None
    #: Which worker holds or ran the latest attempt: its host (in a
    #: container, the container's id) and process, for an operator
    #: following a job. A queued job names the worker that fetched it and
    #: will start it when one of its threads is free.
    worker_name: str | None = None
    #: The workflow this job is a step of, if any (see ``actors.workflows``).
    workflow: StepLink | None = None

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL_STATES

    def compact(self) -> dict[str, Any]:
        """The fields worth storing: the record reads back as the same job from them.

        Nulls, no arguments, no attempts yet and the id (the store's key
        names the job) are left out, and options kept only where one differs
        from the defaults (a record without options reads as the defaults'):
        a record of few, short values stays a compact hash in Redis (its
        listpack encoding, a third of the memory), and costs its writer and
        Redis fewer arguments.
        """
        # Read from the fields as they are, not through model_dump: a record's
        # values are JSON already, and only a nested model needs dumping.
        fields: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if value is None or name == "id" or (name in _STORED_IF_ANY and not value):
                continue
            if name == "options":
                # Options none of which was given are the defaults, as a request's
                # most often are; others may still be given as the defaults.
                value = value.model_fields_set and value.model_dump(exclude_defaults=True)
                if not value:
                    continue
            elif isinstance(value, BaseModel):
                value = value.model_dump(exclude_none=True)
            fields[name] = value
        return fields


#: Fields held only when they say something: no arguments, no attempts yet.
_STORED_IF_ANY = frozenset({"args", "kwargs", "attempts"})


def event_state(event: dict[str, Any]) -> State:
    return State(event["state"])


def event_kind(event: dict[str, Any]) -> str:
    """``progress`` for a progress report of a running job, else ``state``."""
    reports = "progress" in event and event_state(event) is State.RUNNING
    return EVENT_KINDS[1] if reports else EVENT_KINDS[0]


def failure(exception: BaseException) -> dict[str, str]:
    """What a record keeps of ``exception``: bounded, with its traceback's end."""
    return Failure(
        type=type(exception).__name__,
        message=_tail(str(exception), MAX_MESSAGE_CHARS),
        traceback=_tail("".join(traceback.format_exception(exception)), MAX_TRACEBACK_CHARS),
    ).model_dump()


def _tail(text: str, limit: int) -> str:
    """``text``, or its last ``limit`` characters after a mark that some were left out."""
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


#: Types whose every value is JSON as it is: a job's result most often.
_PLAIN_JSON = frozenset({str, int, bool, type(None)})


def jsonable(result: Any) -> Any:
    """``result`` if it is JSON (NaN and infinities are not), else its repr."""
    if type(result) in _PLAIN_JSON:
        # Without an encoder made for it: json.dumps makes one anew when
        # given allow_nan, and a job's end costs one.
        return result
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        return repr(result)
    return result
