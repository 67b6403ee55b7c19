"""The worker's side of the queue: how a worker takes a job, starts it, and settles its message.

A job goes through a worker in five steps, each a call named here:

1. **fetch**: the consumer thread asks for messages (:meth:`RedisConsumer.__next__`);
   the consumer waits for room and calls :meth:`RedisBroker.fetch
   <actors.broker.RedisBroker.fetch>`, whose script takes the messages and
   reserves an attempt at each job in its record (the job stays "queued").
   Each message comes back as a :class:`~actors.attempt.JobMessage`, with the
   :class:`~actors.attempt.Attempt` that carries what is decided of it from
   here on.
2. **start**: a worker thread takes the message up; the job-state middleware
   decides the start and hands it to :meth:`RedisConsumer.start`.
3. **run**: dramatiq's worker thread calls the actor.
4. **finish**: the job-state middleware decides the end from what dramatiq's
   middleware made of the run, and leaves it on the attempt (``ending``).
5. **settle**: dramatiq's consumer thread acks or nacks the message
   (:meth:`RedisConsumer.ack`, :meth:`RedisConsumer.nack`); starts, acks and
   nacks go in batches to :meth:`RedisBroker.settle
   <actors.broker.RedisBroker.settle>`, whose script writes each job's start
   and end (``storage/lua/job.lua``) and settles the messages.

Messages fetched and never run (the worker stops) are handed back to the
front of their queue, their attempts given back (:meth:`RedisConsumer.requeue`,
:meth:`RedisBroker.requeue <actors.broker.RedisBroker.requeue>`).

So a job costs its worker no round trip of its own: its start and end ride
the broker's calls, and a batch settles many. A thread hands its start or
ack over (:class:`~actors.batch_sender.BatchSender`) and takes up its next
job at once; an ack that fails, for whatever reason, is sent again until it
is written, and the end with it: a job that ends while Redis is down is not
left "running". Its message counts as outstanding (dramatiq's
``outstanding_message_count``) until then.

The consumer waits rather than polls: dramatiq's sleeps after each empty
fetch, a backoff doubling from 5 ms up to the worker timeout; this one
blocks on the queue's wake-up list that every enqueue fills (see
``storage/lua/dispatch.lua``), so a job is taken as soon as it is sent and an idle
worker sends one command per worker timeout. A fetch that leaves the queue
empty takes the token away and says so: the consumer goes on to wait once
its messages are given out, with no fetch of nothing first.

Redis away, or frozen past the read timeout, stops a consumer from taking
jobs, not the consumer: it tries again every worker timeout, holding on to
the delayed messages its thread keeps, and says so once. A fetch whose reply
was lost may still have run: its messages go back to the queue with the
next fetch (see :mod:`actors.fetch_numbers`).

A consumer also knows which messages it holds (fetched and not yet settled),
so that the heartbeat can find those handed to another worker while this
one was presumed dead (:meth:`RedisConsumer.holding`, :meth:`RedisConsumer.lose`):
their runs here are interrupted, and nothing of them is written. And the
other way round: a settle Redis answered and then lost (it appends to its
file every second, and a crash undoes what it had not yet written) leaves
messages in this worker's acks that it neither holds nor settles; the
heartbeat hands them back to their queue.

What of dramatiq this relies on is listed in :mod:`actors.broker`.
"""

from __future__ import annotations

import contextlib
import heapq
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

import dramatiq
import redis
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import DecodeError
from dramatiq.message import Message
from dramatiq.worker import ConsumerThread

from .attempt import Attempt, JobMessage, attempt_of
from .batch_sender import BatchSender
from .dispatch import Room, rank
from .lifecycle import JobCancelled, Transition
from .storage.codecs import ComeDue

if TYPE_CHECKING:
    from .broker import RedisBroker

#: Longest single blocking wait: a stopping or pausing worker's consumer
#: notices within this long, however long the worker timeout.
MAX_BLOCK_SECONDS = 1.0
#: A message's Redis id, in its text as dramatiq's encoder writes it.
REDIS_ID = re.compile(rb'"redis_message_id":"([^"\\]+)"')
#: How long a closing consumer waits for the acks handed to it to be sent.
#: Past it (Redis is away), they are lost with the process: their messages
#: are handed back by its last heartbeat or, failing that, found with a
#: dead worker's, and their jobs run again.
FLUSH_SECONDS = 30.0
#: At most this many starts, acks and nacks go in one settle call: Redis
#: runs a call's script whole, blocking every other client meanwhile, and
#: a long backlog of settlements (after Redis was away, or under load) is
#: sent in several calls, one right after another.
MAX_SETTLEMENTS_PER_CALL = 32


@dataclass(frozen=True)
class Holding:
    """What a consumer holds of its queue, as the heartbeat needs it (see ``holding``)."""

    queue_name: str
    #: The messages fetched and not yet settled: (Redis id, attempt) each.
    held: list[tuple[str, Attempt]]
    #: The number of the last fetch whose messages are all among them (or settled since).
    fetched_through: int
    #: The Redis ids of the messages whose ack or nack is being sent.
    settling: list[str]


class Settlement(NamedTuple):
    """One part of a settle call: a job's start, or its message's ack or nack with the job's end.

    A named tuple: made twice a job, it costs less than a frozen dataclass.
    """

    kind: Literal["start", "ack", "nack"]
    redis_message_id: str
    job_id: str
    #: What to write of the job with it (its start, or its end); None: nothing.
    write: Transition | None = None


class RedisConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, taking and settling jobs as the steps above say.

    Two waits replace its backoff sleep: for an enqueue when the queue is
    empty, and for room (see :mod:`actors.dispatch`): the consumers of a
    worker's queues share its :class:`~actors.dispatch.Room`, so that the
    worker holds only what its threads will start soon. Without a worker (a
    consumer made by hand), a consumer's room is its own ``prefetch``; a
    delay queue's always is (what it holds waits for its time, not for a
    thread). Delayed messages held by the consumer's thread still come due
    on time: the wait for an enqueue ends by the earliest of them.
    """

    broker: RedisBroker

    def __init__(self, broker: RedisBroker, queue_name: str, prefetch: int, timeout: int):
        super().__init__(broker, queue_name, prefetch, timeout)
        self.wake_key = broker.keys.wake(queue_name)
        shared = broker.room
        self._room = shared if shared and not queue_name.endswith(".DQ") else Room(prefetch)
        self._rank = rank(queue_name)
        #: An enqueue's wake-up token was taken, and not yet passed on or used.
        self._woken = False
        #: The last fetch left the queue empty, and no wait for an enqueue followed yet.
        self._emptied = False
        #: Why the last fetch failed (Redis full, or not answering); None: it did not.
        self._taking_none: str | None = None
        # Settled on this consumer's queue, which is not message.queue_name
        # once the message was delayed (as dramatiq's ack has it).
        self._settlements = BatchSender(
            self._send_settlements,
            name=f"settle {queue_name}",
            max_batch=MAX_SETTLEMENTS_PER_CALL,
        )
        #: The messages fetched and not yet settled, by Redis id.
        self._held: dict[str, Attempt] = {}
        #: The number of the last fetch whose messages were all put in ``_held``.
        self._fetched_through = 0
        self._holding = threading.Lock()
        self._lost_delayed = False
        #: A delay queue's consumer: the Redis ids of the messages it holds,
        #: by their dramatiq id (see :meth:`coming_due`).
        self._delayed: dict[str, str] | None = {} if queue_name.endswith(".DQ") else None
        #: The clients the consumer's thread and its settles' call Redis
        #: with, each with a connection of its own, made when first used.
        self._fetching: redis.Redis | None = None
        self._settling: redis.Redis | None = None

    # 1. Fetch -----------------------------------------------------------

    def __next__(self) -> JobMessage | None:
        try:
            if self._lost_delayed:
                self._forget_lost_delayed()
            if not self.message_cache and not self._fetch():
                return None
            if self.message_cache:
                message = self.message_cache.pop(0)
                self.queued_message_ids.add(message.message_id)
                return message
            return None
        except (redis.ConnectionError, redis.TimeoutError) as error:
            # Redis is away, or frozen past the read timeout: this consumer
            # goes on once it answers (its pool connects again). Raised,
            # dramatiq's consumer thread would make a new one and drop the
            # delayed messages it holds, or, for a timeout, hand them back
            # while Redis is still away, which fails and ends the thread.
            self._take_none(f"Redis does not answer ({error})")
            return None
        except redis.exceptions.OutOfMemoryError as error:
            # Redis refuses every write (its fetch script whole): a job taken
            # now could not be started or ended.
            self._take_none(str(error))
            return None

    def _take_none(self, reason: str) -> None:
        """Take no jobs for a worker timeout, and say why once."""
        if self._taking_none is None:
            self.logger.warning("Taking no jobs from %r: %s.", self.queue_name, reason)
        self._taking_none = reason
        time.sleep(self.timeout / 1000)

    def _fetch(self) -> bool:
        """Fetch what there is room for; wait for room, or for an enqueue when nothing came.

        A consumer whose last fetch left the queue empty waits for an
        enqueue without fetching first, when it has room at once: that
        fetch took the queue's wake-up token away, and an enqueue since left
        one. Room waited for, it fetches: the queue may have filled
        meanwhile, and it is that lane's turn.
        """
        if self._emptied:
            self._emptied = False
            if self._room.may_fetch(self._rank):
                self._wait_for_enqueue()
                return False
        room = self._room.take(self._rank, self.timeout / 1000)
        if not room:
            # No room for what woke it: the token goes to another consumer.
            self._pass_on_wake_up()
            return False
        self._woken = False
        try:
            fetched = self.broker.fetch(self.queue_name, room, client=self._fetch_client())
        except BaseException:
            self._room.give_back(room)
            raise
        if self._taking_none is not None:
            self._taking_none = None
            self.logger.warning("Taking jobs from %r again.", self.queue_name)
        self.message_cache = list(self._job_messages(fetched.messages))
        self._room.give_back(room - len(self.message_cache))
        for message in self.message_cache:
            self._hold(message)
        with self._holding:
            self._fetched_through = self.broker.last_answered_fetch(self.queue_name)
        if self.message_cache:
            self._emptied = fetched.emptied
        else:
            self._wait_for_enqueue()
        return bool(self.message_cache)

    def _job_messages(self, fetched: list[tuple[bytes, int]]) -> Iterator[JobMessage]:
        """The messages fetched, each with its attempt; those dramatiq cannot decode set aside."""
        for data, attempt in fetched:
            try:
                message = Message.decode(data)
            except DecodeError:
                self._set_aside(data, attempt)
                continue
            yield JobMessage(message, Attempt(attempt, consumer=self))

    def _set_aside(self, data: bytes, attempt: int) -> None:
        """Nack a message dramatiq cannot decode: it goes to the queue's dead letters.

        The fetch's script sets aside what is no dramatiq message; this one
        it took for one, as dramatiq's encoder writes them (see job_of in
        ``storage/lua/dispatch.lua``): its Redis id is read from its text.
        """
        found = REDIS_ID.search(data)
        if found is None:
            self.logger.error(
                "A message of queue %r cannot be decoded, nor its Redis id read: %r",
                self.queue_name,
                data,
            )
            return
        redis_id = found[1].decode()
        self.logger.error(
            "Message %s of queue %r cannot be decoded: set aside with its dead letters.",
            redis_id,
            self.queue_name,
        )
        settlement = Settlement("nack", redis_id, redis_id)
        self._settlements.put((settlement, Attempt(attempt, consumer=self)))

    def _fetch_client(self) -> redis.Redis:
        """The client of this consumer's thread (which alone fetches)."""
        if self._fetching is None:
            self._fetching = self.broker.own_client()
        return self._fetching

    def _wait_for_enqueue(self) -> None:
        """Block until an enqueue, the worker timeout, or the first delayed message is due.

        An enqueue's wake-up token taken is kept (``_woken``) for the next
        fetch; taken as the consumer's thread is paused or stopped, it is
        passed on: the thread will not fetch.
        """
        thread = threading.current_thread()
        deadline = current_millis() + self.timeout
        due = _earliest_delayed(thread)
        if due is not None:
            deadline = min(deadline, due)
        while _taking(thread):
            seconds = min(MAX_BLOCK_SECONDS, (deadline - current_millis()) / 1000)
            # BLPOP would wait forever on 0.
            if seconds < 0.001:
                return
            if self._fetch_client().blpop([self.wake_key], timeout=seconds):
                self._woken = True
                if not _taking(thread):
                    self._pass_on_wake_up()
                return

    def _pass_on_wake_up(self) -> None:
        """Pass on a wake-up token this consumer took, as a fetch of nothing does."""
        if self._woken:
            self.broker.fetch(self.queue_name, 0, client=self._fetch_client())
            self._woken = False

    # 2. Start -----------------------------------------------------------

    def start(self, message: dramatiq.Message, start: Transition) -> None:
        """Hand over the start of a job a thread takes up, to be sent with the next batch."""
        settlement = Settlement("start", _redis_id(message), message.message_id, start)
        self._settlements.put((settlement, attempt_of(message)))

    # 5. Settle ----------------------------------------------------------

    def ack(self, message: JobMessage) -> None:
        self._settle("ack", message)

    def nack(self, message: JobMessage) -> None:
        self._settle("nack", message)

    def _settle(self, kind: Literal["ack", "nack"], message: JobMessage) -> None:
        """Hand the ack or nack over to be sent in a batch, with the job's end."""
        attempt = attempt_of(message)
        # Its message is another worker's now, and so is the job's end; or it
        # was a delayed message, moved off this queue as it came due.
        settled_here = not (attempt.lost or attempt.moved)
        if settled_here:
            # Handed over before it is released, so that the heartbeat always
            # finds it held or being settled (see holding).
            settlement = Settlement(kind, _redis_id(message), message.message_id, attempt.ending)
            self._settlements.put((settlement, attempt))
        self._release(message, attempt)
        # Its thread is free for another job: the ack's write need not be waited for.
        self._room.give_back(1, ended=1)
        if not settled_here:
            self.queued_message_ids.discard(message.message_id)

    def _send_settlements(self, batch: list[tuple[Settlement, Attempt]]) -> None:
        if self._settling is None:
            self._settling = self.broker.own_client()
        refused = self.broker.settle(
            self.queue_name, [settlement for settlement, _ in batch], client=self._settling
        )
        self.queued_message_ids.difference_update(
            settlement.job_id for settlement, _ in batch if settlement.kind != "start"
        )
        for settlement, attempt in batch:
            latest = refused.get(settlement.redis_message_id)
            if settlement.kind != "start" or latest is None:
                continue
            if latest != attempt.number:
                # A newer attempt was reserved: this worker was presumed dead.
                self._lose(attempt, settlement.redis_message_id)
            elif attempt.interrupt(JobCancelled):
                self.logger.info(
                    "A job of message %s may not run (cancelled?): stopped.",
                    settlement.redis_message_id,
                )

    def requeue(self, messages: Iterable[JobMessage]) -> None:
        """Hand messages back to the front of their queue, and the attempts reserved for them.

        Messages a stopping worker fetched but no thread of it ran. Those
        handed to another worker meanwhile are that worker's now.
        """
        messages = list(messages)
        handed_back = [
            (_redis_id(message), attempt.number)
            for message in messages
            if not (attempt := attempt_of(message)).lost
        ]
        try:
            if handed_back:
                self.broker.requeue(self.queue_name, handed_back)
        finally:
            # Released only once handed back: released first, a message is
            # one the heartbeat finds in this worker's acks, neither held nor
            # settled, and hands back itself, keeping the attempt reserved.
            for message in messages:
                self._release(message, attempt_of(message))
            self._room.give_back(len(messages))

    def close(self) -> None:
        """Hand back what was fetched but never given out; send the acks handed over."""
        # A stopping consumer thread leaves the rest of its last fetch here:
        # their attempts were reserved, and would count until found with a
        # dead worker's messages.
        cached, self.message_cache = self.message_cache, []
        try:
            self.requeue(cached)
        except redis.ConnectionError as error:
            self.logger.warning("Could not hand back %d message(s): %s", len(cached), error)
        # Woken as its thread paused or stopped, the consumer fetched nothing for it.
        with contextlib.suppress(redis.ConnectionError):
            self._pass_on_wake_up()
        flushed = self._settlements.close(FLUSH_SECONDS)
        if not flushed:
            self.logger.warning("Acks of queue %r were not all sent in time.", self.queue_name)
        # The connections these clients kept go back to the pool. The settling
        # one only once its thread is done with it: past the flush's timeout it
        # may still be sending, and is left to the process's end.
        if self._fetching is not None:
            self._fetching.close()
            self._fetching = None
        if flushed and self._settling is not None:
            self._settling.close()
            self._settling = None

    # A delayed message come due -----------------------------------------

    def coming_due(self, message_id: str) -> ComeDue | None:
        """The delayed message of dramatiq id ``message_id``, if this delay queue holds it.

        dramatiq's consumer thread sends a delayed message come due to its
        queue (a copy under a new Redis id), then acks it off the delay
        queue. The broker does both in one call (``storage/lua/send.lua``),
        and tells :meth:`moved`: the message is never on both queues.
        """
        if self._delayed is None:
            return None
        with self._holding:
            redis_id = self._delayed.get(message_id)
        if redis_id is None:
            return None
        return ComeDue(self.broker.broker_id, self.queue_name, redis_id, message_id)

    def moved(self, due: ComeDue, sent: bool) -> None:
        """The delayed message ``due`` was moved onto its queue, or not ``sent``: another worker's.

        Either way its ack, which dramatiq's consumer thread makes next,
        sends nothing.
        """
        with self._holding:
            attempt = self._held.pop(due.redis_message_id, None)
            if attempt is not None:
                self._delayed.pop(due.message_id, None)
        if attempt is None:
            return
        if sent:
            attempt.moved = True
        else:
            self._lose(attempt, due.redis_message_id)

    # What this consumer holds -------------------------------------------

    def holding(self) -> Holding:
        """What this consumer holds, for the heartbeat to tell from what Redis says it holds.

        Read in this order, so that every message of its acks that this
        worker still knows of is in it: the messages held, with the last
        fetch they are all from, then those being settled (a message is
        handed over to be settled before it is released).
        """
        with self._holding:
            held = list(self._held.items())
            fetched_through = self._fetched_through
        settling = [
            settlement.redis_message_id
            for settlement, _ in self._settlements.unsent()
            if settlement.kind != "start"
        ]
        return Holding(self.queue_name, held, fetched_through, settling)

    def lose(self, attempts: Iterable[tuple[str, Attempt]]) -> None:
        """The heartbeat found these messages (Redis id, attempt) no longer this worker's."""
        for redis_id, attempt in attempts:
            with self._holding:
                if self._held.get(redis_id) is not attempt:
                    continue  # settled meanwhile
                del self._held[redis_id]
                if self._delayed:
                    # Rare (this worker was presumed dead): a look through them all.
                    self._delayed = {m: r for m, r in self._delayed.items() if r != redis_id}
            self._lose(attempt, redis_id)

    def _lose(self, attempt: Attempt, redis_id: str) -> None:
        if attempt.lose():
            self.logger.warning(
                "Message %s was handed to another worker while this one was presumed dead: "
                "its run here is interrupted and its result discarded.",
                redis_id,
            )
        else:
            self.logger.warning(
                "Message %s was handed to another worker while this one was presumed dead: "
                "it will not run here.",
                redis_id,
            )
            self._lost_delayed = True

    def _hold(self, message: JobMessage) -> None:
        redis_id = _redis_id(message)
        with self._holding:
            earlier, self._held[redis_id] = self._held.get(redis_id), attempt_of(message)
            if self._delayed is not None:
                self._delayed[message.message_id] = redis_id
        if earlier is not None:
            # Fetched again: it was handed back while this worker was presumed dead.
            self._lose(earlier, redis_id)

    def _release(self, message: JobMessage, attempt: Attempt) -> None:
        redis_id = _redis_id(message)
        with self._holding:
            if self._held.get(redis_id) is attempt:
                del self._held[redis_id]
                if self._delayed is not None:
                    self._delayed.pop(message.message_id, None)

    def _forget_lost_delayed(self) -> None:
        """Drop lost messages from the delay queue of the consumer thread (this one)."""
        self._lost_delayed = False
        thread = threading.current_thread()
        if not isinstance(thread, ConsumerThread):
            return
        delayed = thread.delay_queue
        with delayed.mutex:
            kept = [item for item in delayed.queue if not attempt_of(item.message).lost]
            dropped = len(delayed.queue) - len(kept)
            delayed.queue[:] = kept
            heapq.heapify(delayed.queue)
        for _ in range(dropped):
            delayed.task_done()


def _redis_id(message: JobMessage) -> str:
    return message.options["redis_message_id"]


def _taking(thread: threading.Thread) -> bool:
    """Whether the thread fetching takes jobs: a dramatiq ConsumerThread not paused or stopping."""
    return not isinstance(thread, ConsumerThread) or (thread.running and not thread.paused)


def _earliest_delayed(thread: threading.Thread) -> int | None:
    """When the first delayed message a dramatiq ConsumerThread holds is due (ms), if any."""
    if not isinstance(thread, ConsumerThread):
        return None
    delayed = thread.delay_queue
    with delayed.mutex:
        return delayed.queue[0].priority if delayed.queue else None
