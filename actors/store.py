"""The shared job store: one record per job, its event history, and an index.

Every API instance and every worker talks to the same Redis, so a job
submitted through one instance is visible, with its state and result,
through all of them. The store writes what the lifecycle (``lifecycle.py``)
decides: each :class:`~actors.lifecycle.Transition` goes through a Lua
script (``storage/lua/``) that checks the current state and writes in one step, and
adds the job's event, which is what ``?wait=`` and Server-Sent Events read.
A new job's record goes in with its broker message, by one script call
(``storage/lua/create.lua``) for one job or a whole batch; so does a retried job's
(``storage/lua/retry.lua``).

Where each thing lives is ``storage/keys.py``'s to say. A job's record is a
hash: ``state``, ``event_id`` and ``event`` as plain strings, every other
field JSON. It holds the job's last event: its id, and the names of the
fields it told besides the state and the time. Its event stream holds
``{"event": JSON}`` entries while the job runs: its history since it last
waited. Waiting and ended jobs, the many, have none (see ``storage/lua/job.lua``).
Each event is also published, by its id, on a channel of the stream's name,
which the API's followers listen on. The index is a stream of every job,
newest last, trimmed by age.

Records of jobs that have ended expire after the retention period; records of
jobs still to run are kept until they end, so nothing waiting is forgotten.

The store runs on redis-py's blocking client (workers, the dashboard) or on
``redis.asyncio`` (the API): each operation is written once, as the calls it
makes (``calls.py``), and with an asyncio client returns an awaitable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import dramatiq
import redis
import redis.asyncio
from dramatiq.common import q_name

from . import replication
from .calls import Steps, redis_calls, run_async, run_blocking
from .lifecycle import Transition
from .record import JobRecord, event_state
from .states import TERMINAL_STATES, State
from .storage import Keys
from .storage.codecs import (
    Create,
    Events,
    JobWrites,
    Retry,
    ScriptCall,
    TransitionWrite,
)
from .storage.events import Event, position, read_stream
from .storage.lua import source
from .storage.record import decode_record, text


class BrokerMessage(NamedTuple):
    """A message the broker prepared and has not written yet (``RedisBroker.prepare``).

    dramatiq's message and its delay, which the middleware is told of once
    it is written, and what the broker's enqueue writes of it: its queue's
    key, its Redis id, its bytes. A named tuple, as :class:`NewJob`: each
    submission makes one, and a frozen dataclass sets each field through
    ``object.__setattr__``, at several times a tuple's cost.
    """

    message: dramatiq.Message
    delay: int | None
    queue_key: str
    redis_message_id: str
    data: bytes

    @property
    def queue_name(self) -> str:
        """The queue of its actor (a delayed message waits in that queue's delay queue)."""
        return q_name(self.message.queue_name)


class NewJob(NamedTuple):
    """A job to create: its record, the message that runs it, and its idempotency key.

    What ``lua/create.lua`` writes of one job, in one step: a job is never
    recorded without its message, nor queued without its record.
    """

    record: JobRecord
    message: BrokerMessage | None = None
    idempotency_key: str | None = None
    #: What the key guards: a digest of the request, so that a key used
    #: again with another request is told apart (:class:`IdempotencyKeyReused`).
    fingerprint: str = ""


def index_before(cursor: str | None) -> str | None:
    """Where reading an index newest first starts: XREVRANGE's ``max`` for ``cursor``.

    None when nothing can come after it: no id is older than the first
    possible one, and Redis refuses ``(0-0``.
    """
    if not cursor:
        return "+"
    return None if cursor == "0-0" else f"({cursor}"


class JobStore:
    """Reads and writes job records in Redis.

    Parameters:
      client: the Redis client, shared with whoever else needs one.
      retention_seconds: how long records of ended jobs (and idempotency
        keys) are kept.
      namespace: prefix of every key this store writes.
      confirmation: how many replicas must have a write before it returns
        (see :mod:`.replication`); none by default.
    """

    def __init__(
        self,
        client: redis.Redis | redis.asyncio.Redis,
        *,
        retention_seconds: int,
        namespace: str = "jobqueue",
        confirmation: replication.Confirmation = replication.NO_CONFIRMATION,
    ):
        self.client = client
        self.run = run_async if isinstance(client, redis.asyncio.Redis) else run_blocking
        self.retention_seconds = retention_seconds
        self.keys = Keys(namespace)
        #: How this store's transitions are written, by any script that writes one.
        self.writes = JobWrites(self.keys, retention_seconds)
        self.confirmation = confirmation
        self._create = client.register_script(source(Create.FILE))
        self._transition = client.register_script(source(TransitionWrite.FILE))
        self._retry = client.register_script(source(Retry.FILE))
        self._events = client.register_script(source(Events.FILE))

    # Writing ------------------------------------------------------------

    @redis_calls
    def create_many(self, jobs: Sequence[NewJob]) -> list[tuple[bool, str]]:
        """Store new jobs with their messages in one script call; ``(created, job id)`` each.

        One round trip whatever the number of jobs, and atomic: a job is
        recorded and queued, or neither. :class:`IdempotencyKeyReused`, and
        nothing written, when a key names a job of another request. With
        replicas to confirm it, :class:`~actors.replication.NotReplicated`
        when they do not in time.
        """
        reply = yield from self._run(self._create, Create.call(self.writes, jobs))
        return Create.reply(reply)

    @redis_calls
    def write(self, job_id: str, transition: Transition) -> tuple[bool, State | None, int]:
        """Write ``transition`` if the job is in a state (and attempt) it may come from.

        Returns ``(applied, state before, latest attempt)``; the state before
        is None when there is no such job.
        """
        call = TransitionWrite.call(self.writes, job_id, transition)
        return TransitionWrite.reply((yield from self._run(self._transition, call)))

    @redis_calls
    def retry(
        self, job_id: str, transition: Transition, message: BrokerMessage, dead_letters: str
    ) -> tuple[bool, State | None, JobRecord | None]:
        """Write ``transition`` (a retry) and send ``message``, in one script call.

        Neither happens unless the job may be retried. The job's last message
        leaves ``dead_letters`` (its queue's dead-letter key, or "" for none).
        Returns ``(applied, state before, record after)``: the state before
        is None when there is no such job, the record None unless applied.
        """
        call = Retry.call(self.writes, job_id, transition, message, dead_letters)
        return Retry.reply(job_id, (yield from self._run(self._retry, call)))

    def _run(self, script, call: ScriptCall) -> Steps[Any]:
        return (
            yield from replication.steps(
                script, keys=call.keys, args=call.args, confirmation=self.confirmation
            )
        )

    # Reading ------------------------------------------------------------

    @redis_calls
    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None if there is no such job (or it expired)."""
        return decode_record(job_id, (yield self.client.hgetall(self.keys.job(job_id))))

    @redis_calls
    def get_many(self, job_ids: list[str]) -> list[JobRecord | None]:
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys.job(job_id))
        return [
            decode_record(job_id, raw)
            for job_id, raw in zip(job_ids, (yield pipe.execute()), strict=True)
        ]

    @redis_calls
    def events(self, job_id: str, *, after: str = "0-0") -> list[tuple[str, dict[str, Any]]]:
        """Events of a job after the id ``after``, oldest first (an ended job keeps its last)."""
        return (yield from self._read.steps(job_id, after))[0]

    @redis_calls
    def last_event_id(self, job_id: str) -> str | None:
        """The id of the job's last event; None if there is no such job."""
        return text((yield self.client.hget(self.keys.job(job_id), "event_id")))

    def follow(
        self, job_id: str, *, after: str = "0-0", block_ms: int, deadline: float
    ) -> Iterator[tuple[str, dict[str, Any]] | None]:
        """Yield events as they happen until the job ends, or until ``deadline``.

        ``deadline`` is a ``time.monotonic()`` value. Yields None each time
        ``block_ms`` passes quietly, so that a caller streaming to a client
        can send a keep-alive. A blocking client's only: each follower holds
        a connection (the API follows jobs with ``services.api.streams``).
        """
        batch, last_id = self._read(job_id, after)
        if last_id is not None:
            # Events to come get ids after the last one, not after whatever
            # id a client sends: following from an id past the end would miss
            # them all, the job's end included.
            after = min(after, last_id, key=position)
        while True:
            for event_id, event in batch:
                after = event_id
                yield event_id, event
            if batch and self.ended(job_id, event_state(batch[-1][1]), after=after):
                return
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return
            batch = self._block(job_id, after, min(block_ms, remaining_ms))
            if not batch:
                yield None
                # The stream of a job that stopped lingers only a moment (see
                # lua/job.lua): an end it no longer holds, its record does.
                batch = self.events(job_id, after=after)

    @redis_calls
    def _read(self, job_id: str, after: str) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        """The events after ``after`` without waiting, and the id of the job's last event."""
        call = Events.call(self.keys, job_id, after)
        return Events.reply((yield self._events(keys=call.keys, args=call.args)))

    def _block(self, job_id: str, after: str, block_ms: int) -> list[Event]:
        """The events the job's stream gets after ``after``, waiting up to ``block_ms`` for one."""
        stream = self.keys.events(job_id)
        return run_blocking(read_stream(self.client, stream, after, block_ms=max(1, block_ms)))

    @redis_calls
    def ended(self, job_id: str, state: State, *, after: str) -> bool:
        """Whether a job in ``state`` has ended with no event after ``after``.

        A retried job's history holds an earlier end, and then its new run.
        """
        return state in TERMINAL_STATES and not (yield from self.events.steps(job_id, after=after))

    @redis_calls
    def list(
        self,
        *,
        state: State | None = None,
        actor: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        scan_budget: int = 5000,
    ) -> tuple[list[JobRecord], str | None]:
        """Jobs newest first, filtered; returns ``(records, next cursor or None)``.

        The cursor is a position in the index, so pages stay stable while new
        jobs arrive. At most ``scan_budget`` index entries are read per call;
        a sparse filter may return a short page with a cursor to go on from.
        """
        start = index_before(cursor)
        if start is None:
            return [], None
        found: list[JobRecord] = []
        scanned = 0
        while scanned < scan_budget:
            batch = yield self.client.xrevrange(self.keys.index, max=start, min="-", count=200)
            scanned += len(batch)
            candidates = [
                (text(entry_id), text(entry[b"id"]))
                for entry_id, entry in batch
                if actor is None or text(entry[b"actor"]) == actor
            ]
            records = yield from self.get_many.steps([job_id for _, job_id in candidates])
            for (entry_id, _job_id), record in zip(candidates, records, strict=True):
                if record is None or (state is not None and record.state != state):
                    continue
                found.append(record)
                if len(found) == limit:
                    older = yield self.client.xrevrange(
                        self.keys.index, max=f"({entry_id}", count=1
                    )
                    return found, entry_id if older else None
            if len(batch) < 200:
                return found, None
            start = f"({text(batch[-1][0])}"
        return found, start[1:]

    @redis_calls
    def ping(self) -> bool:
        return bool((yield self.client.ping()))

    @redis_calls
    def writable(self) -> bool:
        """Whether Redis takes a write; one out of memory refuses it (``OutOfMemoryError``)."""
        return bool((yield self.client.set(self.keys.writable, "1", px=10_000)))
