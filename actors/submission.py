"""Turning a request for work into a job record and a message on the broker.

The record is written first and the message sent second, so a worker never
runs a job that has no record; if sending fails, the record goes away again
and the caller learns of it: a job is either accepted and queued, or refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dramatiq
import redis

from .broker import Queue
from .lanes import DEFAULT_PRIORITY, lane
from .registry import JobSpec
from .store import now_ms

#: Annotations the submission checks arguments against; others are accepted as given.
#: What a JSON value may be to fit an annotation: an integer fits float too.
_ACCEPTS: dict[type, tuple[type, ...]] = {float: (int, float)}


class InvalidJob(ValueError):
    """The request names no public job, or its arguments do not fit the job."""


@dataclass(frozen=True)
class JobRequest:
    actor: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Seconds to wait before the job may run.
    delay: float = 0
    max_retries: int | None = None
    #: Seconds the job may run before it is interrupted.
    time_limit: float | None = None
    #: The lane: "high", "normal" or "low" (see lanes.PRIORITIES).
    priority: str = DEFAULT_PRIORITY


def check(spec: JobSpec | None, request: JobRequest) -> None:
    """Raise :class:`InvalidJob` unless ``request`` is a valid call of a public job."""
    if spec is None or not spec.public:
        raise InvalidJob(f"no public job is named {request.actor!r}")
    try:
        bound = spec.signature.bind(*request.args, **request.kwargs)
    except TypeError as error:
        raise InvalidJob(f"arguments do not fit {request.actor}: {error}") from None
    for name, value in bound.arguments.items():
        annotation = spec.json_type(name)
        if annotation is None:
            continue
        expected = _ACCEPTS.get(annotation, (annotation,))
        if (isinstance(value, bool) and annotation is not bool) or not isinstance(value, expected):
            raise InvalidJob(
                f"argument {name!r} of {request.actor} must be {annotation.__name__}, "
                f"got {type(value).__name__}"
            )


def submit(
    queue: Queue, request: JobRequest, *, idempotency_key: str | None = None
) -> tuple[bool, dict[str, Any]]:
    """Record and enqueue one job; return ``(created, record)``.

    With an ``idempotency_key`` already used within the retention period, the
    job submitted first comes back and nothing new is enqueued.
    """
    check(queue.specs.get(request.actor), request)
    message = _message(queue, request)
    record = new_record(request, message.message_id, message.queue_name)
    created, job_id = queue.store.create(record, idempotency_key=idempotency_key)
    if not created:
        return False, queue.store.get(job_id) or {"id": job_id}
    try:
        queue.broker.enqueue(message, delay=int(request.delay * 1000) or None)
    except redis.RedisError:
        queue.store.forget(job_id, idempotency_key=idempotency_key)
        raise
    return True, record


def _message(queue: Queue, request: JobRequest) -> dramatiq.Message:
    options: dict[str, Any] = {}
    if request.max_retries is not None:
        options["max_retries"] = request.max_retries
    if request.time_limit is not None:
        options["time_limit"] = int(request.time_limit * 1000)
    return queue.actors[lane(request.actor, request.priority)].message_with_options(
        args=tuple(request.args), kwargs=request.kwargs, **options
    )


def new_record(request: JobRequest, job_id: str, queue_name: str) -> dict[str, Any]:
    """The record of a job that is about to be enqueued."""
    enqueued_at = now_ms()
    delay_ms = int(request.delay * 1000)
    return {
        "id": job_id,
        "actor": request.actor,
        "queue": queue_name,
        "state": "delayed" if delay_ms else "queued",
        "args": request.args,
        "kwargs": request.kwargs,
        "options": {
            "delay": request.delay,
            "max_retries": request.max_retries,
            "time_limit": request.time_limit,
            "priority": request.priority,
        },
        "attempts": 0,
        "enqueued_at": enqueued_at,
        "eta": enqueued_at + delay_ms,
        "started_at": None,
        "finished_at": None,
        "updated_at": enqueued_at,
        "progress": None,
        "result": None,
        "error": None,
    }


def submit_many(queue: Queue, requests: list[JobRequest]) -> list[dict[str, Any]]:
    """Record and enqueue many jobs in one round trip; all are accepted or none.

    Every request is checked before anything is written; the error names
    the one that does not fit, by its position.
    """
    for index, request in enumerate(requests):
        try:
            check(queue.specs.get(request.actor), request)
        except InvalidJob as error:
            raise InvalidJob(f"jobs/{index}: {error}") from None
    messages = [_message(queue, request) for request in requests]
    records = [
        new_record(request, message.message_id, message.queue_name)
        for request, message in zip(requests, messages, strict=True)
    ]
    with queue.broker.pipelined() as pipe:
        for request, message, record in zip(requests, messages, records, strict=True):
            queue.store.create(record, client=pipe)
            queue.broker.enqueue(message, delay=int(request.delay * 1000) or None)
    return records


def retry(queue: Queue, job_id: str) -> tuple[bool, str | None]:
    """Run a failed or dead job again under the same id; return ``(applied, state before)``."""
    record = queue.store.get(job_id)
    if record is None:
        return False, None
    now = now_ms()
    applied, before = queue.store.transition(
        job_id,
        "queued",
        allowed_from=("failed", "dead"),
        fields={
            "enqueued_at": now,
            "eta": now,
            "started_at": None,
            "finished_at": None,
            "progress": None,
            "result": None,
            "error": None,
        },
    )
    if not applied:
        return False, before
    options = record.get("options") or {}
    request = JobRequest(
        actor=record["actor"],
        args=record["args"],
        kwargs=record["kwargs"],
        max_retries=options.get("max_retries"),
        time_limit=options.get("time_limit"),
        priority=options.get("priority") or DEFAULT_PRIORITY,
    )
    message = _message(queue, request).copy(message_id=job_id)
    try:
        queue.broker.enqueue(message)
    except redis.RedisError:
        queue.store.transition(job_id, before, allowed_from=("queued",))
        raise
    if record.get("redis_message_id"):
        queue.broker.remove_dead_letter(record["queue"], record["redis_message_id"])
    return True, before
