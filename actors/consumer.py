"""A Redis consumer that waits for work the way a worker should: woken by it.

Dramatiq's Redis consumer sleeps after each empty fetch, a backoff doubling
from 5 ms up to the worker timeout, so an idle worker sends about nine
fetches a second and takes the first job after a quiet spell up to a second
late. This one blocks instead, on the queue's wake-up list that every
enqueue fills (see ``storage/lua/dispatch.lua``): the job is taken as soon as it is
sent, and an idle worker sends one command per worker timeout.

It also carries a job's record writes in the broker's own calls, so that a
job costs its worker no round trip of its own: the fetch reserves an
attempt at each job it takes and says which (see :class:`~actors.attempt.Attempt`,
0 when nothing was reserved); the start of a job, which a worker thread
hands over when it takes the job up, and the end the job-state middleware
decided are written by the calls that settle messages. Starts, acks and
nacks are sent by a thread of their own, many in one call
(:class:`BatchSender`): a worker thread hands its message over and takes up
its next job at once. An ack that fails, for whatever reason, is sent again
until it is written, and the end with it: a job that ends while Redis is
down is not left "running". Its message counts as outstanding (dramatiq's
``outstanding_message_count``) until then.

A consumer also knows which messages it holds (fetched and not yet settled),
so that the heartbeat can find those handed to another worker while this
one was presumed dead (:meth:`WakingConsumer.held`, :meth:`WakingConsumer.lose`):
their runs here are interrupted, and nothing of them is written.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.logging import get_logger
from dramatiq.message import Message
from dramatiq.worker import ConsumerThread

from .attempt import Attempt, attempt_of
from .dispatch import Room, rank
from .lifecycle import JobCancelled, Transition
from .storage.codecs import Dispatch

#: A settle's part handed over for a batch: the attempt, the job id of an ack
#: or nack (None for a start), the message's Redis id, and its arguments.
Settling = tuple[Attempt, str | None, str, list[str | bytes | int]]

#: Longest single blocking wait: a stopping or pausing worker's consumer
#: notices within this long, however long the worker timeout.
MAX_BLOCK_SECONDS = 1.0
#: How long a closing consumer waits for the acks handed to it to be sent.
#: Past it (Redis is away), they are lost with the process: their messages
#: are handed back by its last heartbeat or, failing that, found with a
#: dead worker's, and their jobs run again.
FLUSH_SECONDS = 30.0
#: Time between two tries of an ack that failed.
RETRY_SECONDS = 1.0


class WakingConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, with the backoff sleep replaced by a blocking wait.

    Two waits replace it: for an enqueue when the queue is empty, and for
    room (see :mod:`actors.dispatch`): the consumers of a worker's queues
    share its :class:`~actors.dispatch.Room`, so that the worker holds only
    what its threads will start soon. Without a worker (a consumer made by
    hand), a consumer's room is its own ``prefetch``; a delay queue's always
    is (what it holds waits for its time, not for a thread).
    Delayed messages held by the consumer's thread still come due on time:
    the wait for an enqueue ends by the earliest of them.
    """

    def __init__(self, broker, queue_name: str, prefetch: int, timeout: int):
        super().__init__(broker, queue_name, prefetch, timeout)
        self.wake_key = broker.keys.wake(queue_name)
        shared = getattr(broker, "room", None)
        self._room = shared if shared and not queue_name.endswith(".DQ") else Room(prefetch)
        self._rank = rank(queue_name)
        #: An enqueue's wake-up token was taken, and not yet passed on or used.
        self._woken = False
        #: Whether Redis refused the last fetch for want of memory.
        self._full = False
        # On this consumer's queue, which is not message.queue_name once the
        # message was delayed (as dramatiq's ack has it).
        self._settlements = BatchSender(self._send_settlements, name=f"settle {queue_name}")
        #: The messages fetched and not yet settled, by Redis id.
        self._held: dict[str, Attempt] = {}
        self._holding = threading.Lock()
        self._lost_delayed = False

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        """Hand messages back to the front of their queue, and the attempts reserved for them.

        Messages a stopping worker fetched but no thread of it ran. Those
        handed to another worker meanwhile are that worker's now.
        """
        handed_back, count = [], 0
        for message in messages:
            count += 1
            attempt = attempt_of(message)
            self._release(message, attempt)
            if not attempt.lost:
                handed_back.append((message.options["redis_message_id"], attempt.number))
        if handed_back:
            self.broker.do_requeue(self.queue_name, *self.broker.requeuing_args(handed_back))
        self._room.give_back(count)

    def ack(self, message: MessageProxy) -> None:
        self._settle("ack", message)

    def nack(self, message: MessageProxy) -> None:
        self._settle("nack", message)

    def begin(self, message: MessageProxy, start: Transition) -> None:
        """Hand over the start of a job a thread takes up, to be sent with the next batch."""
        redis_id = _redis_id(message)
        item = self.broker.settling_args("start", redis_id, message.message_id, start)
        self._settlements.put((attempt_of(message), None, redis_id, item))

    def _settle(self, kind: str, message: MessageProxy) -> None:
        """Hand the ack or nack over to be sent in a batch, with the job's end."""
        attempt = attempt_of(message)
        self._release(message, attempt)
        # Its thread is free for another job: the ack's write need not be waited for.
        self._room.give_back(1, ended=1)
        if attempt.lost:
            # Its message is another worker's now, and so is the job's end.
            self.queued_message_ids.discard(message.message_id)
            return
        redis_id = _redis_id(message)
        item = self.broker.settling_args(kind, redis_id, message.message_id, attempt.ending)
        self._settlements.put((attempt, message.message_id, redis_id, item))

    def _send_settlements(self, batch: list[Settling]) -> None:
        items = itertools.chain(*(item for *_, item in batch))
        refused = Dispatch.refused(self.broker.do_settle(self.queue_name, *items))
        settled = [message_id for _, message_id, _, _ in batch if message_id is not None]
        self.queued_message_ids.difference_update(settled)
        starts = {redis_id: attempt for attempt, job, redis_id, _ in batch if job is None}
        for redis_id, latest in refused.items():
            attempt = starts[redis_id]
            if latest != attempt.number:
                # A newer attempt was reserved: this worker was presumed dead.
                self._lose(attempt, redis_id)
            elif attempt.interrupt(JobCancelled):
                self.logger.info("A job of message %s may not run (cancelled?): stopped.", redis_id)

    def held(self) -> list[tuple[str, str, Attempt]]:
        """The messages this consumer holds: (queue, Redis id, attempt) each."""
        with self._holding:
            return [(self.queue_name, redis_id, a) for redis_id, a in self._held.items()]

    def lose(self, attempts: Iterable[tuple[str, Attempt]]) -> None:
        """The heartbeat found these messages (Redis id, attempt) no longer this worker's."""
        for redis_id, attempt in attempts:
            with self._holding:
                if self._held.get(redis_id) is not attempt:
                    continue  # settled meanwhile
                del self._held[redis_id]
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

    def _hold(self, message: MessageProxy) -> None:
        redis_id = _redis_id(message)
        with self._holding:
            earlier, self._held[redis_id] = self._held.get(redis_id), attempt_of(message)
        if earlier is not None:
            # Fetched again: it was handed back while this worker was presumed dead.
            self._lose(earlier, redis_id)

    def _release(self, message: MessageProxy, attempt: Attempt) -> None:
        redis_id = _redis_id(message)
        with self._holding:
            if self._held.get(redis_id) is attempt:
                del self._held[redis_id]

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
        if not self._settlements.close(FLUSH_SECONDS):
            self.logger.warning("Acks of queue %r were not all sent in time.", self.queue_name)

    def __next__(self) -> MessageProxy | None:
        try:
            if self._lost_delayed:
                self._forget_lost_delayed()
            if not self.message_cache and not self._fetch():
                return None
            if self.message_cache:
                proxy = self.message_cache.pop(0)
                self.queued_message_ids.add(proxy.message_id)
                return proxy
            return None
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None
        except redis.exceptions.OutOfMemoryError as error:
            # Redis refuses every write (its fetch script whole): a job taken
            # now could not be started or ended. Wait for room, and say so once.
            if not self._full:
                self._full = True
                self.logger.warning("Taking no jobs from %r: %s.", self.queue_name, error)
            time.sleep(self.timeout / 1000)
            return None

    def _fetch(self) -> bool:
        """Fetch what there is room for; wait for room, or for an enqueue when nothing came."""
        room = self._room.take(self._rank, self.timeout / 1000)
        if not room:
            if self._woken:
                # No room for what woke it: a fetch of nothing passes the token on.
                self.broker.do_fetch(self.queue_name, 0)
                self._woken = False
            return False
        self._woken = False
        try:
            # Pairs: (message data, the attempt the fetch reserved or 0).
            fetched = self.broker.do_fetch(self.queue_name, *self.broker.fetching_args(room))
        except BaseException:
            self._room.give_back(room)
            raise
        if self._full:
            self._full = False
            self.logger.warning("Taking jobs from %r again: Redis has room.", self.queue_name)
        pairs = Dispatch.fetched(fetched)
        self._room.give_back(room - len(pairs))
        self.message_cache = [_proxy(self, data, attempt) for data, attempt in pairs]
        for proxy in self.message_cache:
            self._hold(proxy)
        if not self.message_cache:
            self._woken = self._wait_for_enqueue()
        return bool(self.message_cache)

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

    def _wait_for_enqueue(self) -> bool:
        """Block until an enqueue, the worker timeout, or the first delayed message is due.

        Whether it was an enqueue (its wake-up token was taken).
        """
        thread = threading.current_thread()
        deadline = current_millis() + self.timeout
        due = _earliest_delayed(thread)
        if due is not None:
            deadline = min(deadline, due)
        while not isinstance(thread, ConsumerThread) or (thread.running and not thread.paused):
            seconds = min(MAX_BLOCK_SECONDS, (deadline - current_millis()) / 1000)
            # BLPOP would wait forever on 0.
            if seconds < 0.001:
                return False
            if self.broker.client.blpop([self.wake_key], timeout=seconds):
                return True
        return False


def _proxy(holder: WakingConsumer, data: bytes, attempt: int) -> MessageProxy:
    """A fetched message, with the attempt its fetch reserved (0: none)."""
    proxy = MessageProxy(Message.decode(data))
    proxy.attempt = Attempt(attempt, holder=holder)
    return proxy


def _redis_id(message: MessageProxy) -> str:
    return message.options["redis_message_id"]


def _earliest_delayed(thread: threading.Thread) -> int | None:
    """When the first delayed message a dramatiq ConsumerThread holds is due (ms), if any."""
    if not isinstance(thread, ConsumerThread):
        return None
    delayed = thread.delay_queue
    with delayed.mutex:
        return delayed.queue[0].priority if delayed.queue else None


class BatchSender:
    """Sends what threads hand in, many items in one call, from a thread of its own.

    :meth:`put` returns at once; the thread sends everything handed in
    while its previous call was under way in its next. A worker whose
    threads finish jobs quickly thus acks them many to a round trip, and no
    thread waits for an ack. A call that fails, whatever the error (Redis
    away, out of memory, busy), is made again, with what was handed in
    meanwhile, every :data:`RETRY_SECONDS` until it succeeds, as dramatiq
    retries an ack: dropping one would leave its job "running" and its
    message held until the worker stops, to run again. What is sent must
    therefore be safe to send twice (an ack of a message no longer held does
    nothing; an end already written is refused).

    The thread starts with the first item and ends when :meth:`close`
    finds nothing left to send; an item handed in later starts it again.
    """

    def __init__(self, send: Callable[[list[Any]], None], *, name: str):
        self.logger = get_logger(__name__, type(self))
        self._send = send
        self._name = name
        self._changed = threading.Condition()
        self._pending: list[Any] = []
        self._sending = False
        self._closing = False
        self._thread: threading.Thread | None = None

    def put(self, item: Any) -> None:
        with self._changed:
            self._pending.append(item)
            self._closing = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif not self._sending:
                self._changed.notify_all()

    def close(self, timeout: float) -> bool:
        """Wait until everything handed in was sent, then end the thread; False on timeout."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
            return self._changed.wait_for(self._idle, timeout)

    def _idle(self) -> bool:
        return not self._pending and not self._sending

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closing)
                if self._closing and not self._pending:
                    self._thread = None
                    return
                batch, self._pending = self._pending, []
                self._sending = True
            sent = self._send_batch(batch)
            with self._changed:
                self._sending = False
                if not sent:
                    self._pending[:0] = batch
                self._changed.notify_all()
            if not sent:
                time.sleep(RETRY_SECONDS)

    def _send_batch(self, batch: list[Any]) -> bool:
        """Send ``batch``; False if it is to be sent again."""
        try:
            self._send(batch)
        except Exception as error:
            self.logger.warning(
                "Sending %d item(s) failed (%s: %s); trying again in %.0f s.",
                len(batch),
                type(error).__name__,
                error,
                RETRY_SECONDS,
            )
            return False
        return True
