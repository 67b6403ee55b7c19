"""The life of a job: the decisions that move it from state to state.

The job owns its lifecycle, as rq's ``JobStatus`` and ``Job.cancel()`` have it:
its states and which may follow which are ``states.py``, its record
``record.py``, what a client asks to run ``job_request.py``; every change of
them is decided here. Every other module asks this one: the worker middleware, the submission and
the API call the operations below, and the store (``store.py``) writes what
they decide. An operation returns a :class:`Transition`: the state a job
moves to, the states it may move from, and the fields of its record that
change. Nothing here talks to Redis, so how a decision is written (by the
store's own script, or folded into the broker's fetch and ack by a worker)
can change without changing what is decided.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.threading import Interrupt

from .job_request import JobOptions, JobRequest
from .lanes import DEFAULT_PRIORITY, PRIORITIES, job_name, lane
from .record import IDENTITY_FIELDS, Failure, JobRecord, Progress, StepLink, failure, jsonable
from .states import PENDING_STATES, TERMINAL_STATES, State, sources


class JobCancelled(Interrupt):
    """Raised inside a running job when a user cancels it."""


class HandedOver(JobCancelled):
    """Raised inside a running job whose message was handed to another worker.

    Its worker was presumed dead (silent past the heartbeat timeout: paused,
    frozen, cut off from Redis) and has come back: the job is, or will be,
    run elsewhere, so this run stops and its result is discarded.
    """


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Transition:
    """A decided change of a job: to ``to``, if it is now in one of ``allowed_from``.

    ``create_missing``: a job without a record gets one (a message sent
    without going through the API). ``announce``: other processes are told
    (a running job is interrupted where it runs). ``begins``: the change
    starts a new attempt, numbered by the store from the record's own count
    (so a requeue from the dashboard or a retry over HTTP counts up, though
    dramatiq restarts its ``retries`` at 0). ``attempt``: the attempt whose
    run decided the change; the store refuses it once a newer attempt has
    begun (0: no run's, as a user's cancel).

    Not frozen, though nothing changes a transition once made: a frozen
    dataclass sets each field through ``object.__setattr__``, and a job's
    start and end, made in its thread, cost that twice.
    """

    to: State
    allowed_from: frozenset[State]
    fields: dict[str, Any] = field(default_factory=dict)
    at: int = field(default_factory=now_ms)
    create_missing: bool = False
    announce: bool = False
    begins: bool = False
    attempt: int = 0

    @property
    def ends(self) -> bool:
        """The job ends here: its record may expire."""
        return self.to in TERMINAL_STATES

    @property
    def rests(self) -> bool:
        """The job stops here, waiting to run or ended: its history is this change alone."""
        return self.to in PENDING_STATES or self.ends

    def changes(self) -> dict[str, Any]:
        """Every field the change sets, the time of the change included."""
        return {**self.fields, "updated_at": self.at}

    def event_fields(self) -> list[str]:
        """The fields this change's event tells, besides the state and the time.

        An event tells what happened, from the record's fields as this change
        leaves them (the store adds the attempt a start numbers). A start is
        news only when it happens: an end that corrects the start time (see
        :func:`finish`) does not tell it again.
        """
        quiet = IDENTITY_FIELDS if self.to is State.RUNNING else IDENTITY_FIELDS | {"started_at"}
        return [name for name in self.fields if name not in quiet]


def _move(to: State, *, only_from: frozenset[State] | None = None, **kwargs: Any) -> Transition:
    allowed = sources(to) if only_from is None else only_from
    if not allowed <= sources(to):
        raise ValueError(f"{to} may not follow {', '.join(sorted(allowed - sources(to)))}")
    return Transition(to, allowed, **kwargs)


_RUNNING = frozenset({State.RUNNING})


def submit(request: JobRequest, *, job_id: str, queue: str) -> JobRecord:
    """The record of a job about to be enqueued: queued, or delayed until its eta."""
    enqueued_at = now_ms()
    delay_ms = int(request.options.delay * 1000)
    return JobRecord(
        id=job_id,
        actor=request.actor,
        queue=queue,
        state=State.DELAYED if delay_ms else State.QUEUED,
        args=request.args,
        kwargs=request.kwargs,
        options=request.options,
        enqueued_at=enqueued_at,
        eta=enqueued_at + delay_ms,
        updated_at=enqueued_at,
    )


def sent(message: dramatiq.Message) -> JobRecord:
    """The record of a job sent the plain dramatiq way (``actor.send()``, a pipeline, a group).

    Written with its message, unless its job has a record already (a retry, a
    delayed message come due).
    """
    job = job_name(message.actor_name)
    lanes = (p for p in PRIORITIES if lane(job, p) == message.actor_name)
    priority = next(lanes, DEFAULT_PRIORITY)
    eta = message.options.get("eta")
    enqueued_at = message.message_timestamp
    return JobRecord(
        id=message.message_id,
        actor=job,
        queue=message.queue_name.removesuffix(".DQ"),
        state=State.QUEUED if eta is None else State.DELAYED,
        args=list(message.args),
        kwargs=message.kwargs,
        options=JobOptions(
            priority=priority,
            delay=0 if eta is None else max(0, eta - enqueued_at) / 1000,
        ),
        enqueued_at=enqueued_at,
        eta=enqueued_at if eta is None else eta,
        updated_at=now_ms(),
    )


def wait_for_parents(
    request: JobRequest, *, job_id: str, queue: str, workflow_id: str, step: int
) -> JobRecord:
    """The record of a workflow's step, waiting until the steps before it end.

    Its workflow queues it then (``storage/lua/workflow.lua``), the results of those
    steps in front of its arguments.
    """
    return submit(request, job_id=job_id, queue=queue).model_copy(
        update={
            "state": State.WAITING,
            "eta": None,
            "workflow": StepLink(id=workflow_id, step=step),
        }
    )


def start(attempt: int, *, worker_name: str | None = None) -> Transition:
    """A thread of the worker named ``worker_name`` starts attempt ``attempt`` at a recorded job.

    The fetch that took the job reserved the attempt (see ``storage/lua/dispatch.lua``);
    the store refuses the start once a newer one was reserved (the job was
    handed to another worker while this one was presumed dead).
    """
    at = now_ms()
    return _move(
        State.RUNNING,
        at=at,
        attempt=attempt,
        fields={"started_at": at, "worker_name": worker_name, "error": None, "attempts": attempt},
    )


def hand_back(attempt: int) -> Transition:
    """A worker gives back the attempt ``attempt`` its fetch reserved, at a job it did not start.

    Refused once the job has started, or moved on.
    """
    return _move(
        State.QUEUED,
        only_from=frozenset({State.QUEUED}),
        attempt=attempt,
        fields={"attempts": attempt - 1, "worker_name": None},
    )


def start_unrecorded(message: dramatiq.Message, *, worker_name: str | None = None) -> Transition:
    """The worker named ``worker_name`` starts an attempt at a job that has no record yet.

    A message sent without going through the API: its start makes its record.
    """
    # Its id is its record's key.
    at = now_ms()
    identity = {
        "actor": job_name(message.actor_name),
        "queue": message.queue_name.removesuffix(".DQ"),
        "args": list(message.args),
        "kwargs": message.kwargs,
        "enqueued_at": message.message_timestamp,
        "redis_message_id": message.options.get("redis_message_id"),
    }
    return _move(
        State.RUNNING,
        at=at,
        begins=True,
        create_missing=True,
        fields={**identity, "started_at": at, "worker_name": worker_name, "error": None},
    )


def report_progress(value: float, note: str, *, attempt: int = 0) -> Transition:
    """A running job (its attempt ``attempt``) says how far it has got."""
    return _move(
        State.RUNNING,
        only_from=_RUNNING,
        attempt=attempt,
        fields={"progress": Progress(value=value, message=note).model_dump()},
    )


def finish(
    *,
    result: Any = None,
    exception: BaseException | None,
    retried: bool,
    permanent: bool,
    attempt: int = 0,
    progress: Progress | None = None,
) -> Transition:
    """An attempt ended: how the job goes on, from dramatiq's outcome.

    ``retried``: dramatiq's Retries middleware sent the message again;
    ``permanent``: the exception is one the job declared retrying cannot fix;
    ``progress``: the attempt's last report, if it was not written yet.
    """
    reported: dict[str, Any] = {}
    if progress is not None:
        reported["progress"] = progress.model_dump()
    if exception is None:
        # Its message is gone for good: where it was kept is no longer worth keeping.
        done = {"result": jsonable(result), "finished_at": now_ms(), "redis_message_id": None}
        return _move(
            State.SUCCEEDED, only_from=_RUNNING, attempt=attempt, fields={**reported, **done}
        )
    state = ended_in(exception=exception, retried=retried, permanent=permanent)
    fields: dict[str, Any] = {**reported, "error": failure(exception)}
    if state in TERMINAL_STATES:
        fields["finished_at"] = now_ms()
    return _move(state, only_from=_RUNNING, attempt=attempt, fields=fields)


def ended_in(*, exception: BaseException | None, retried: bool, permanent: bool) -> State:
    """The state an attempt leaves its job in (see :func:`finish`), and nothing else."""
    if exception is None:
        return State.SUCCEEDED
    if isinstance(exception, JobCancelled):
        return State.CANCELLED
    if retried:
        return State.RETRYING
    if permanent:
        return State.FAILED
    return State.DEAD


def dead_letter(reason: str, message: str, *, attempt: int = 0) -> Transition:
    """A job the broker gave up on before it ran (too old to run)."""
    return _move(
        State.DEAD,
        attempt=attempt,
        fields={
            "error": Failure(type=reason, message=message).model_dump(exclude_none=True),
            "finished_at": now_ms(),
        },
    )


def dead_letter_deleted() -> Transition:
    """An admin deleted the job's dead letter: a record that had not ended says it is dead.

    A failed or dead job's record already says so, and stays as it is (a
    retry over HTTP builds its message anew from the record).
    """
    return _move(
        State.DEAD,
        only_from=frozenset({State.DELAYED, State.RUNNING, State.RETRYING}),
        fields={
            "error": Failure(
                type="DeadLetterDeleted", message="its dead letter was deleted"
            ).model_dump(),
            "finished_at": now_ms(),
            "redis_message_id": None,
        },
    )


def cancel() -> Transition:
    """A user cancels the job: a waiting job never runs, a running one is interrupted."""
    at = now_ms()
    return _move(State.CANCELLED, at=at, announce=True, fields={"finished_at": at})


def retry() -> Transition:
    """A failed or dead job runs again under the same id, its last run forgotten."""
    at = now_ms()
    return _move(
        State.QUEUED,
        only_from=frozenset({State.FAILED, State.DEAD}),
        at=at,
        fields={
            "enqueued_at": at,
            "eta": at,
            "started_at": None,
            "finished_at": None,
            "progress": None,
            "result": None,
            "error": None,
        },
    )
