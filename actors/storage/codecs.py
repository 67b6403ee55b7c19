"""Each Lua script's arguments, built from typed values, and its reply, decoded.

A script reads its KEYS and ARGV by position, as its file's header says; its
codec here is the only Python that knows those positions. A caller hands a
codec what it means (a job, a transition, a message) and runs the
:class:`ScriptCall` it gets back; a new argument, or a new script, is a change
to a Lua file and to its codec, side by side.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, NamedTuple

from ..lifecycle import Transition, now_ms
from ..record import JobRecord
from ..states import State
from .keys import Keys
from .record import (
    decode_record,
    encode_fields,
    encode_record,
    record_fields,
    text,
)

if TYPE_CHECKING:
    from ..schedules.store import Firing
    from ..store import BrokerMessage, NewJob

#: How many events a running job's stream keeps (a job reporting progress often keeps the latest).
EVENTS_PER_JOB = 1000
#: How many events one read of a job's history returns at most.
EVENTS_PER_READ = 100


@dataclass(frozen=True)
class ScriptCall:
    """One call of a script: its KEYS and its ARGV."""

    keys: list[str]
    args: list[str | bytes | int]


class IdempotencyKeyReused(Exception):
    """An idempotency key names a job submitted with another request; nothing was written."""

    def __init__(self, job_id: str):
        super().__init__(f"the idempotency key names job {job_id}, submitted with another request")
        self.job_id = job_id


@dataclass(frozen=True)
class JobWrites:
    """``write_job``'s arguments (``lua/job.lua``): how a transition is written.

    Parameters:
      keys: the key layout.
      retention_seconds: how long a job's record is kept once it ends.
    """

    keys: Keys
    retention_seconds: int

    def args(self, transition: Transition) -> list[str | int]:
        """The arguments that write ``transition``: ten, then its fields' names and values.

        Given flat, the fields go into the record's hash as they came, with
        nothing for the script to decode. Its event is given as JSON, built
        from those fields, unless the change begins an attempt (the event
        then carries the attempt the script numbers).
        """
        fields = encode_fields(transition.changes())
        told = transition.event_fields()
        return [
            transition.to,
            _spaced(transition.allowed_from),
            len(fields),
            " ".join(told),
            self.retention_seconds if transition.ends else 0,
            self.keys.cancellations if transition.announce else "",
            0 if transition.rests else EVENTS_PER_JOB,
            "1" if transition.create_missing else "0",
            "+" if transition.begins else transition.attempt,
            "" if transition.begins else _event_json(transition, fields, told),
            *chain.from_iterable(fields.items()),
        ]

    def of_job(self, job_id: str, transition: Transition) -> list[str | int]:
        """The job's hash and event stream, then :meth:`args`: a write of settle and limits."""
        return [self.keys.job(job_id), self.keys.events(job_id), *self.args(transition)]

    def oldest_kept(self) -> str:
        """The stream id before which index entries are trimmed."""
        return f"{now_ms() - self.retention_seconds * 1000}-0"


def _event_json(transition: Transition, fields: dict[str, str], told: list[str]) -> str:
    """A change's event as ``lua/event.lua``'s ``event_json`` builds it, from its encoded fields.

    States and field names are words: quoted, they are their JSON.
    """
    told_fields = "".join([f',"{name}":{fields[name]}' for name in told])
    return f'{{"state":"{transition.to}","at":{transition.at}{told_fields}}}'


#: Each set of states a transition may come from, as write_job takes it: space-separated.
_SPACED_STATES: dict[frozenset[State], str] = {}


def _spaced(states: frozenset[State]) -> str:
    spaced = _SPACED_STATES.get(states)
    if spaced is None:
        spaced = _SPACED_STATES[states] = " ".join(states)
    return spaced


def written(reply: list[Any]) -> tuple[bool, State | None, int]:
    """``write_job``'s reply: (applied, the state before or None for no such job, attempt)."""
    applied, before, attempt = reply
    if applied == -1:
        return False, None, 0
    before = text(before)
    return applied == 1, State(before) if before else None, attempt


class Create:
    """``lua/create.lua``: jobs, each with its record, message and idempotency key."""

    FILE = "create.lua"

    @staticmethod
    def call(writes: JobWrites, jobs: Sequence[NewJob]) -> ScriptCall:
        keys = [writes.keys.index]
        args: list[str | bytes | int] = [writes.retention_seconds, writes.oldest_kept()]
        for job in jobs:
            job_keys, job_args = Create.job(
                writes, job.record, job.message, job.idempotency_key, job.fingerprint
            )
            keys += job_keys
            args += job_args
        return ScriptCall(keys, args)

    @staticmethod
    def job(
        writes: JobWrites,
        record: JobRecord,
        message: BrokerMessage | None = None,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> tuple[list[str], list[str | bytes | int]]:
        """The three keys and the arguments of one job: six, then its record's fields."""
        keys = [
            writes.keys.job(record.id),
            writes.keys.idempotency(idempotency_key) if idempotency_key else "",
            message.queue_key if message else "",
        ]
        fields = record_fields(record)
        args: list[str | bytes | int] = [
            record.id,
            record.actor,
            message.redis_message_id if message else "",
            message.data if message else "",
            fingerprint,
            len(fields),
        ]
        # Name, value, name, value...: a loop, at a third of a generator's cost a job.
        for field in fields.items():
            args += field
        return keys, args

    @staticmethod
    def reply(reply: list[Any]) -> list[tuple[bool, str]]:
        """``(created, job id)`` per job; :class:`IdempotencyKeyReused` for a key reused.

        ``created`` is false only for a job an earlier request made under the
        same idempotency key; a call made again after its reply was lost finds
        its own jobs, created.
        """
        if reply[0] == -1:
            raise IdempotencyKeyReused(text(reply[1]))
        flags, job_ids = reply[::2], reply[1::2]
        return [(flag == 1, text(job_id)) for flag, job_id in zip(flags, job_ids, strict=True)]


@dataclass(frozen=True)
class ComeDue:
    """A delayed message come due, as the worker holding it moves it onto its queue."""

    worker_id: str
    #: The delay queue it waited in ("<queue>.DQ"), and its Redis id there.
    delay_queue: str
    redis_message_id: str
    #: Its dramatiq id.
    message_id: str


class Send:
    """``lua/send.lua``: a message sent the plain dramatiq way, its job recorded unless it is."""

    FILE = "send.lua"

    @staticmethod
    def call(
        writes: JobWrites,
        queue_key: str,
        redis_message_id: str,
        data: bytes,
        record: JobRecord,
        due: ComeDue | None = None,
        again: bool = False,
    ) -> ScriptCall:
        """Create_jobs.lua's KEYS and ARGV follow the message's, for its job alone.

        With ``due``, the message is that delayed message, moved off its
        delay queue in the same call. ``again``: a call made again after
        one whose reply was lost, which may have sent the message.
        """
        job_keys, job_args = Create.job(writes, record)
        keys = writes.keys
        moved = (
            [keys.acks(due.worker_id, due.delay_queue), keys.messages(due.delay_queue)]
            if due
            else ["", ""]
        )
        return ScriptCall(
            [queue_key, *moved, keys.index, *job_keys],
            [
                redis_message_id,
                data,
                due.redis_message_id if due else "",
                1 if again else "",
                writes.retention_seconds,
                writes.oldest_kept(),
                *job_args,
            ],
        )

    @staticmethod
    def sent(reply: int) -> bool:
        """Whether the message was sent: not when the delayed message was another worker's."""
        return reply != -1


class TransitionWrite:
    """``lua/transition.lua``: one transition of one job."""

    FILE = "transition.lua"

    @staticmethod
    def call(writes: JobWrites, job_id: str, transition: Transition) -> ScriptCall:
        keys = writes.keys
        return ScriptCall([keys.job(job_id), keys.events(job_id)], writes.args(transition))

    reply = staticmethod(written)


class Retry:
    """``lua/retry.lua``: a retry written and its message sent, or neither."""

    FILE = "retry.lua"

    @staticmethod
    def call(
        writes: JobWrites,
        job_id: str,
        transition: Transition,
        message: BrokerMessage,
        dead_letters: str,
    ) -> ScriptCall:
        keys = writes.keys
        return ScriptCall(
            [keys.job(job_id), keys.events(job_id), message.queue_key, dead_letters],
            [*writes.args(transition), message.redis_message_id, message.data],
        )

    @staticmethod
    def reply(job_id: str, reply: list[Any]) -> tuple[bool, State | None, JobRecord | None]:
        """(applied, the state before or None for no such job, the record after if applied)."""
        applied, before, fields = reply
        if applied == -1:
            return False, None, None
        record = decode_record(job_id, dict(zip(fields[::2], fields[1::2], strict=True)))
        return applied == 1, State(text(before)), record


class Events:
    """``lua/events.lua``: a job's events after an id, without waiting."""

    FILE = "events.lua"

    @staticmethod
    def call(keys: Keys, job_id: str, after: str) -> ScriptCall:
        return ScriptCall([keys.job(job_id), keys.events(job_id)], [after, EVENTS_PER_READ])

    @staticmethod
    def reply(reply: list[Any]) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        """The events, oldest first, and the id of the job's last event (None: no such job)."""
        last_id, *flat = reply
        events = [
            (text(event_id), json.loads(event))
            for event_id, event in zip(flat[::2], flat[1::2], strict=True)
        ]
        return events, text(last_id)


class DeleteMessages:
    """``services/dashboard/lua/delete_messages.lua``: messages deleted, their jobs ended."""

    FILE = "delete_messages.lua"

    @staticmethod
    def call(
        writes: JobWrites,
        broker_keys: Keys,
        queue_name: str,
        ended: Transition,
        messages: Sequence[tuple[Any, str]],
    ) -> ScriptCall:
        """``messages``: (Redis id, its job's id or "" for none) each."""
        args: list[str | bytes | int] = list(writes.args(ended))
        for redis_message_id, job_id in messages:
            args += [redis_message_id, writes.keys.job(job_id) if job_id else ""]
        return ScriptCall([broker_keys.queue(queue_name), broker_keys.messages(queue_name)], args)


class RequeueDeadLetters:
    """``services/dashboard/lua/requeue_dead_letters.lua``: dead letters back on their queue."""

    FILE = "requeue_dead_letters.lua"

    @staticmethod
    def call(keys: Keys, queue_name: str, moves: Sequence[tuple[Any, str, bytes]]) -> ScriptCall:
        """``moves``: (dead letter's id, the new Redis id, the new message) each."""
        args: list[str | bytes | int] = []
        for move in moves:
            args += move
        return ScriptCall(
            [
                keys.dead_letters(queue_name),
                keys.dead_letter_messages(queue_name),
                keys.queue(queue_name),
            ],
            args,
        )

    @staticmethod
    def reply(reply: list[bytes]) -> list[str]:
        """The new Redis ids of the letters that went back."""
        return [redis_message_id.decode() for redis_message_id in reply]


def _schedule_keys(keys: Keys, name: str) -> list[str]:
    return [keys.schedule(name), keys.schedules, keys.schedules_due, keys.schedule_history(name)]


class ScheduleSave:
    """``actors/schedules/lua/save.lua``: a schedule created, replaced or declared."""

    FILE = "save.lua"

    @staticmethod
    def call(
        keys: Keys,
        name: str,
        *,
        mode: str,
        definition_json: str,
        source: str,
        next_at: int | None,
        now: int,
        history_length: int,
        read_next_at: int | None,
    ) -> ScriptCall:
        return ScriptCall(
            _schedule_keys(keys, name),
            [
                name,
                mode,
                definition_json,
                source,
                _optional(next_at),
                now,
                history_length,
                _optional(read_next_at),
            ],
        )


class ScheduleChange:
    """``actors/schedules/lua/change.lua``: a schedule paused, resumed or deleted."""

    FILE = "change.lua"

    @staticmethod
    def call(
        keys: Keys, name: str, change: str, *, now: int, next_at: int | None, history_length: int
    ) -> ScriptCall:
        return ScriptCall(
            _schedule_keys(keys, name), [name, change, now, history_length, _optional(next_at)]
        )


class ScheduleFire:
    """``actors/schedules/lua/fire.lua``: a schedule's due ticks claimed, their jobs created."""

    FILE = "fire.lua"

    @staticmethod
    def call(writes: JobWrites, name: str, firing: Firing, *, history_length: int) -> ScriptCall:
        keys = writes.keys
        create = Create.call(writes, firing.jobs)
        history = [{k: str(v) for k, v in entry.items()} for entry in firing.history]
        return ScriptCall(
            [keys.schedule(name), keys.schedules_due, keys.schedule_history(name), *create.keys],
            [
                name,
                _optional(firing.claimed),
                firing.version,
                _optional(firing.next_at),
                firing.missed,
                json.dumps(history),
                history_length,
                _optional(firing.last_at),
                firing.last_job or "",
                _optional(firing.max_runs),
                len(create.args),
                *create.args,
            ],
        )


def _optional(number: int | None) -> int | str:
    """A number as the schedules' scripts take it: "" for none."""
    return "" if number is None else number


@dataclass(frozen=True)
class NewStep:
    """A workflow's step to write: its number, its definition, its job's first record.

    The definition is a JSON object as ``lua/workflow.lua`` reads it (its
    header lists the fields).
    """

    number: int
    definition: dict[str, Any]
    record: JobRecord


def _step_args(steps: Sequence[NewStep]) -> list[str | bytes | int]:
    """``add_steps``'s four arguments a step (``lua/workflow.lua``)."""
    args: list[str | bytes | int] = []
    for step in steps:
        args += [
            str(step.number),
            json.dumps(step.definition),
            encode_record(step.record),
            step.record.actor,
        ]
    return args


def _applied(reply: list[Any]) -> tuple[bool, str | None]:
    """A workflow script's reply: (applied, the state before, None for no such workflow)."""
    applied, before = reply
    return applied == 1, text(before) if applied != -1 else None


class WorkflowCreate:
    """``lua/create_workflow.lua``: a workflow, its steps' jobs, its first steps' messages."""

    FILE = "create_workflow.lua"

    @staticmethod
    def call(
        writes: JobWrites,
        workflow_id: str,
        fields: dict[str, str],
        steps: Sequence[NewStep],
        *,
        max_input_bytes: int,
    ) -> ScriptCall:
        keys = writes.keys
        # What the scripts read from each workflow's hash, as they read it.
        settings = {
            "jobs": keys.jobs_prefix,
            "channel": keys.cancellations,
            "retention": str(writes.retention_seconds),
            "max_events": str(EVENTS_PER_JOB),
            "max_input": str(max_input_bytes),
            "tally": keys.workflows_tally,
        }
        return ScriptCall(
            [keys.workflow(workflow_id), keys.index, keys.workflows],
            [
                json.dumps({**fields, **settings}),
                writes.oldest_kept(),
                workflow_id,
                *_step_args(steps),
            ],
        )


class WorkflowCancel:
    """``lua/cancel_workflow.lua``: a running workflow and its steps cancelled."""

    FILE = "cancel_workflow.lua"

    @staticmethod
    def call(keys: Keys, workflow_id: str) -> ScriptCall:
        return ScriptCall([keys.workflow(workflow_id)], [])

    reply = staticmethod(_applied)


class WorkflowRetry:
    """``lua/retry_workflow.lua``: the steps of a workflow that did not succeed, run again."""

    FILE = "retry_workflow.lua"

    @staticmethod
    def call(writes: JobWrites, workflow_id: str, steps: Sequence[NewStep]) -> ScriptCall:
        keys = writes.keys
        return ScriptCall(
            [keys.workflow(workflow_id), keys.index], [writes.oldest_kept(), *_step_args(steps)]
        )

    reply = staticmethod(_applied)


class Fetched(NamedTuple):
    """What a fetch took, and whether it left its queue empty."""

    #: (message data, the attempt reserved for it or 0) each.
    messages: list[tuple[bytes, int]]
    #: No message waits in the queue now: the next fetch would take none
    #: before an enqueue wakes the consumer.
    emptied: bool


class Dispatch:
    """``lua/dispatch.lua``: the broker's commands, dramatiq's script changed.

    Every command takes the same eight arguments first, as dramatiq's
    ``_dispatch`` builds them; what follows is the command's own (the
    ``fetch``, ``requeue`` and ``settle`` methods build it).
    """

    FILE = "dispatch.lua"

    @staticmethod
    def call(
        keys: Keys,
        command: str,
        queue_name: str,
        *,
        now: int,
        worker_id: str,
        heartbeat_timeout: int,
        dead_message_ttl: int,
        maintenance: int,
        max_unpack_size: int,
        args: Sequence[str | bytes | int] = (),
    ) -> ScriptCall:
        return ScriptCall(
            [keys.broker_namespace],
            [
                command,
                now,
                queue_name,
                worker_id,
                heartbeat_timeout,
                dead_message_ttl,
                maintenance,
                max_unpack_size,
                *args,
            ],
        )

    @staticmethod
    def enqueue(redis_message_id: str, data: bytes) -> list[str | bytes | int]:
        return [redis_message_id, data]

    @staticmethod
    def fetch(
        count: int,
        numbered: tuple[int, int],
        writes: JobWrites | None,
        startable: Iterable[str],
        worker_name: str,
    ) -> list[str | bytes | int]:
        """Take ``count``; with a store (``writes``), reserve each job's attempt for the worker.

        ``numbered``: the fetch's number and the last one answered (see
        :mod:`actors.fetch_numbers`).
        """
        number, answered = numbered
        if writes is None:
            return [count, number, answered]
        return [
            count,
            number,
            answered,
            writes.keys.jobs_prefix,
            " ".join(sorted(startable)),
            json.dumps(worker_name),
        ]

    @staticmethod
    def fetched(reply: list[Any]) -> Fetched:
        return Fetched(list(zip(reply[1::2], reply[2::2], strict=True)), reply[0] == 1)

    @staticmethod
    def requeue(
        writes: JobWrites | None, messages: Iterable[tuple[str, int]]
    ) -> list[str | bytes | int]:
        """Hand back ``messages``, (Redis id, attempt reserved) each."""
        args: list[str | bytes | int] = [writes.keys.jobs_prefix if writes else ""]
        for redis_message_id, attempt in messages:
            args += [redis_message_id, attempt if writes else 0]
        return args

    @staticmethod
    def settlement(
        writes: JobWrites | None,
        kind: str,
        redis_message_id: str,
        job_id: str,
        transition: Transition | None,
    ) -> list[str | bytes | int]:
        """One message's part of a settle: ``kind`` (start, ack, nack) and its job's write."""
        write = [] if writes is None or transition is None else writes.of_job(job_id, transition)
        return [kind, redis_message_id, len(write), *write]

    @staticmethod
    def refused(reply: list[Any]) -> dict[str, int]:
        """The starts a settle refused: the job's latest attempt, by Redis message id."""
        return {
            text(redis_id): latest for redis_id, latest in zip(reply[::2], reply[1::2], strict=True)
        }


class Heartbeat:
    """``lua/heartbeat.lua``: one beat of a worker process."""

    FILE = "heartbeat.lua"

    @staticmethod
    def call(
        keys: Keys,
        *,
        now: int,
        worker_id: str,
        alive: bool,
        reap_after_ms: int | None,
        dead_letters_ttl_ms: int | None,
        held: Sequence[tuple[str, str]],
        fetched: Sequence[tuple[str, int, Sequence[str]]],
        queues: Sequence[str],
    ) -> ScriptCall:
        """``reap_after_ms``: the heartbeat timeout, None to reap no one;
        ``dead_letters_ttl_ms``: None to leave dead letters; ``held``: (queue, Redis id) each;
        ``fetched``: (queue, the last fetch whose messages are held, the Redis ids
        of those being settled) each."""
        return ScriptCall(
            [keys.broker_namespace],
            [
                now,
                worker_id,
                now if alive else 0,
                "" if reap_after_ms is None else reap_after_ms,
                "" if dead_letters_ttl_ms is None else dead_letters_ttl_ms,
                json.dumps([list(message) for message in held]),
                json.dumps([[queue, through, list(ids)] for queue, through, ids in fetched]),
                *queues,
            ],
        )

    @staticmethod
    def reply(reply: list[Any]) -> tuple[int, int, list[int]]:
        """How many messages of dead workers went back, how many forgotten ones of this
        worker's; the positions (from 0) of ``held`` lost."""
        requeued, forgotten, *positions = reply
        return requeued, forgotten, [position - 1 for position in positions]


@dataclass(frozen=True)
class LimitSlots:
    """A job's limit as ``lua/limits.lua`` takes it."""

    job: str
    concurrency: int
    count: int
    period_ms: int

    def args(self) -> list[str | bytes | int]:
        return [self.job, self.concurrency, self.count, self.period_ms]


class Limits:
    """``lua/limits.lua``: acquire, release and sweep the limits of jobs."""

    FILE = "limits.lua"

    @staticmethod
    def call(
        keys: Keys, command: str, *, now: int, heartbeat_timeout: int, args: Sequence[Any]
    ) -> ScriptCall:
        return ScriptCall([keys.broker_namespace], [command, now, heartbeat_timeout, *args])

    @staticmethod
    def message(
        limit: LimitSlots, worker_id: str, queue_name: str, redis_message_id: str
    ) -> list[str | bytes | int]:
        """A message's limit, and the message as ``worker_id``'s: release's arguments."""
        return [*limit.args(), worker_id, queue_name, redis_message_id]

    @staticmethod
    def acquire(
        limit: LimitSlots,
        worker_id: str,
        queue_name: str,
        redis_message_id: str,
        *,
        writes: JobWrites | None,
        job_id: str,
        handed_back: Transition | None,
    ) -> list[str | bytes | int]:
        """As :meth:`message`, then the job's write that hands it back if it must wait."""
        back: list[str | bytes | int] = [""]
        if writes is not None and handed_back is not None:
            back = [writes.keys.job(job_id), *writes.args(handed_back)]
        return [*Limits.message(limit, worker_id, queue_name, redis_message_id), *back]

    @staticmethod
    def sweep(limits: Iterable[LimitSlots]) -> list[str | bytes | int]:
        return [value for limit in limits for value in limit.args()]
