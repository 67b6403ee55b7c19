"""Turning a request for work into a job record and a message on the broker.

The record and the message are written together, by one script call (one
round trip, for one job or a batch), so a worker never runs a job that has
no record and no record waits for a message that was never sent: a job is
either accepted and queued, or refused.
What the record says is the lifecycle's to decide (``lifecycle.py``).

Each operation runs on the queue's store, so it returns an awaitable when
the store's client is an asyncio one (the API's; see ``calls.py``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pydantic

from . import lifecycle
from .broker import Queue
from .calls import Steps
from .ids import random_ids
from .job_request import JobOptions, JobRequest
from .lanes import lane
from .record import JobRecord
from .registry import JobSpec
from .states import State
from .storage.codecs import IdempotencyKeyReused
from .store import BrokerMessage, NewJob


class InvalidJob(ValueError):
    """The request names no public job, or its arguments do not fit the job."""


def check(
    spec: JobSpec | None, request: JobRequest, *, private: bool = False, received: bool = False
) -> None:
    """Raise :class:`InvalidJob` unless ``request`` is a valid call of a public job.

    ``private``: of any job (a schedule declared in code runs private ones too).
    ``received``: the job will receive one more argument in front of
    ``request.args`` (a workflow's step, the results of the steps before
    it), unknown until then: that there is a parameter for it is checked.
    """
    if spec is None or not (spec.public or private):
        raise InvalidJob(f"no {'' if private else 'public '}job is named {request.actor!r}")
    received_args = [None] if received else []
    try:
        arguments = spec.bind([*received_args, *request.args], request.kwargs)
    except TypeError as error:
        raise InvalidJob(f"arguments do not fit {request.actor}: {error}") from None
    unknown = set(list(arguments)[: len(received_args)])
    try:
        spec.arguments.model_validate(arguments)
    except pydantic.ValidationError as error:
        wrong = [e for e in error.errors() if not e["loc"] or e["loc"][0] not in unknown]
        if wrong:
            where = "/".join(map(str, wrong[0]["loc"]))
            raise InvalidJob(f"argument {where!r} of {request.actor}: {wrong[0]['msg']}") from None
    for name, value in arguments.items():
        if name not in unknown:
            _check_text(value, name, request.actor)


def _check_text(value: Any, where: str, actor: str) -> None:
    """Refuse text that cannot be encoded as UTF-8 (a lone surrogate), at any depth.

    JSON may spell one (``"\\ud800"``) and Python holds it, but it cannot be
    stored, sent to a worker or written out: the job would fail every attempt.
    """
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidJob(
                f"argument {where!r} of {actor}: text must be valid Unicode "
                "(a lone surrogate is not)"
            ) from None
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{where}/{index}", actor)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where, actor)
            _check_text(item, f"{where}/{key}", actor)


def submit(
    queue: Queue,
    request: JobRequest,
    *,
    idempotency_key: str | None = None,
    private: bool = False,
) -> tuple[bool, JobRecord]:
    """Record and enqueue one job; return ``(created, record)``.

    With an ``idempotency_key`` already used within the retention period, the
    job submitted first comes back and nothing new is enqueued. ``private``:
    any job may be submitted (from code), not only public ones.
    """
    creation = prepare_one(queue, request, idempotency_key=idempotency_key, private=private)
    return queue.store.run(_submit(queue, creation))


def prepare_one(
    queue: Queue,
    request: JobRequest,
    *,
    idempotency_key: str | None = None,
    private: bool = False,
) -> Creation:
    """What :func:`submit` writes: one checked request made into its record and message."""
    check(queue.specs.get(request.actor), request, private=private)
    return _creation(queue, [request], idempotency_key)


def _submit(queue: Queue, creation: Creation) -> Steps[tuple[bool, JobRecord]]:
    created, [record] = yield from _write(queue, creation)
    return created, record


def submit_many(
    queue: Queue, requests: list[JobRequest], *, idempotency_key: str | None = None
) -> tuple[bool, list[JobRecord]]:
    """Record and enqueue many jobs in one round trip; all are accepted or none.

    Every request is checked before anything is written; the error names
    the one that does not fit, by its position. Returns ``(created,
    records)``; with an ``idempotency_key`` already used, the jobs of the
    batch first submitted with it come back and nothing is enqueued.
    """
    return write(queue, prepare_many(queue, requests, idempotency_key=idempotency_key))


def prepare_many(
    queue: Queue, requests: list[JobRequest], *, idempotency_key: str | None = None
) -> Creation:
    """What :func:`submit_many` writes: checked requests made into records and messages.

    Apart so that a caller may do its own work on the records while
    :func:`write` waits for Redis (the API builds its answer then).
    """
    for index, request in enumerate(requests):
        try:
            check(queue.specs.get(request.actor), request)
        except InvalidJob as error:
            raise InvalidJob(f"jobs/{index}: {error}") from None
    return _creation(queue, requests, idempotency_key)


def write(queue: Queue, creation: Creation) -> tuple[bool, list[JobRecord]]:
    """Write what :func:`prepare_many` made, in one script call; as :func:`submit_many` returns."""
    return queue.store.run(_write(queue, creation))


def _creation(queue: Queue, requests: list[JobRequest], idempotency_key: str | None) -> Creation:
    """The records and messages of checked requests, guarded by ``idempotency_key``.

    The key guards the whole call: each job is written under a key of its
    own made from it, with a digest of every request, so that the same key
    with other requests is refused (as the IETF's Idempotency-Key draft has
    it) rather than answered with jobs that were not asked for.
    """
    fingerprint = _fingerprint(requests) if idempotency_key else ""
    keys = [idempotency_key] if len(requests) == 1 else None
    if idempotency_key and keys is None:
        keys = [f"{idempotency_key}/{index}" for index in range(len(requests))]
    return prepare(queue, requests, idempotency_keys=keys, fingerprint=fingerprint)


def _write(queue: Queue, creation: Creation) -> Steps[tuple[bool, list[JobRecord]]]:
    try:
        replies = yield from queue.store.create_many.steps(creation.jobs)
    except IdempotencyKeyReused:
        raise InvalidJob(
            "the Idempotency-Key was used before with another request; "
            "a new request needs a new key"
        ) from None
    creation.written(queue, [created for created, _job_id in replies])
    if all(created for created, _job_id in replies):
        return True, creation.records
    # The key expires a retention period after the jobs were submitted, their
    # records a retention period after they ended: the records are there.
    return False, (yield from queue.store.get_many.steps([job_id for _created, job_id in replies]))


def _fingerprint(requests: list[JobRequest]) -> str:
    body = json.dumps([request.model_dump(mode="json") for request in requests], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Creation:
    """Checked requests made ready to be written: each job's record, message and key."""

    jobs: list[NewJob]

    @property
    def records(self) -> list[JobRecord]:
        return [job.record for job in self.jobs]

    def written(self, queue: Queue, created: list[bool]) -> None:
        """Tell the broker's middleware which of the messages were written."""
        # Only what was written: a repeated idempotency key queues nothing.
        for was_created, job in zip(created, self.jobs, strict=True):
            if was_created and job.message is not None:
                queue.broker.enqueued(job.message)


def prepare(
    queue: Queue,
    requests: list[JobRequest],
    *,
    job_ids: list[str] | None = None,
    idempotency_keys: list[str] | None = None,
    fingerprint: str = "",
) -> Creation:
    """The records and messages of checked requests, under ``job_ids`` if given.

    ``idempotency_keys``: one a request, guarding what ``fingerprint`` digests.

    Whoever writes them (``JobStore.create_many``, or a script that runs
    ``storage/lua/create.lua`` with writes of its own) then calls ``written``.
    """
    new_jobs = []
    # The batch's ids made at once: its messages', and its jobs' unless given.
    count = len(requests)
    ids = random_ids(count if job_ids else 2 * count)
    redis_message_ids, job_ids = ids[:count], job_ids or ids[count:]
    for index, request in enumerate(requests):
        sent = prepare_message(
            queue, request, job_id=job_ids[index], redis_message_id=redis_message_ids[index]
        )
        record = lifecycle.submit(request, job_id=sent.message.message_id, queue=sent.queue_name)
        key = idempotency_keys[index] if idempotency_keys else None
        new_jobs.append(NewJob(record, sent, key, fingerprint if key else ""))
    return Creation(new_jobs)


def retry(queue: Queue, job_id: str) -> tuple[bool, State | None, JobRecord | None]:
    """Run a failed or dead job again under the same id.

    Returns ``(applied, state before, record after)``, as the store's
    ``retry`` does. Two round trips: the record, which the message is built
    from, then one script call that checks the job may be retried, queues
    it, and sends the message (or does neither).
    """
    return queue.store.run(_retry(queue, job_id))


def _retry(queue: Queue, job_id: str) -> Steps[tuple[bool, State | None, JobRecord | None]]:
    record = yield from queue.store.get.steps(job_id)
    if record is None:
        return False, None, None
    retried = lifecycle.retry()
    if record.state not in retried.allowed_from:
        # Refused without building a message; the script checks again, atomically.
        return False, record.state, None
    request = JobRequest(
        actor=record.actor,
        args=record.args,
        kwargs=record.kwargs,
        options=(record.options or JobOptions()).model_copy(update={"delay": 0}),
    )
    sent = prepare_message(queue, request, job_id=job_id)
    dead_letters = queue.broker.keys.dead_letters(record.queue) if record.queue else ""
    applied, before, after = yield from queue.store.retry.steps(job_id, retried, sent, dead_letters)
    if applied:
        queue.broker.enqueued(sent)
    return applied, before, after


def prepare_message(
    queue: Queue,
    request: JobRequest,
    *,
    job_id: str | None = None,
    args: tuple[Any, ...] | None = None,
    redis_message_id: str | None = None,
) -> BrokerMessage:
    """The message that runs ``request``, prepared to be written.

    ``job_id`` runs a job again (or names a workflow's step, or a new job
    whose id was made already); ``args`` are sent instead of the request's;
    ``redis_message_id`` is the broker's id of the message, made anew unless given.
    """
    options: dict[str, Any] = {}
    if request.options.max_retries is not None:
        options["max_retries"] = request.options.max_retries
    if request.options.time_limit is not None:
        options["time_limit"] = int(request.options.time_limit * 1000)
    actor = queue.actors[lane(request.actor, request.options.priority)]
    delay = _delay_ms(request.options)
    return queue.broker.prepare(
        actor,
        args=tuple(request.args) if args is None else args,
        kwargs=request.kwargs,
        options=options,
        delay=delay,
        message_id=job_id,
        redis_message_id=redis_message_id,
    )


def _delay_ms(options: JobOptions) -> int | None:
    return int(options.delay * 1000) or None
