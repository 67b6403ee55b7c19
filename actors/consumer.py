"""A Redis consumer that waits for work the way a worker should: woken by it.

Dramatiq's Redis consumer sleeps after each empty fetch, a backoff doubling
from 5 ms up to the worker timeout, so an idle worker sends about nine
fetches a second and takes the first job after a quiet spell up to a second
late. This one blocks instead, on the queue's wake-up list that every
enqueue fills (see ``lua/dispatch.lua``): the job is taken as soon as it is
sent, and an idle worker sends one command per worker timeout.

It also carries a job's record writes in the broker's own calls, so that a
job costs its worker no round trip of its own: the fetch marks the jobs it
takes running and says which attempt each starts (``message.attempt``, 0
when nothing was written), and ack and nack write the end the job-state
middleware decided (``message.ending``, a
:class:`~actors.lifecycle.Transition`), the acks of threads that finish
together in one call (:class:`GroupCommit`). An ack that fails for want of Redis
is retried by dramatiq until Redis answers, and the end with it: a job that
ends while Redis is down is not left "running".
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from typing import Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from dramatiq.worker import ConsumerThread

#: Longest single blocking wait: a stopping or pausing worker's consumer
#: notices within this long, however long the worker timeout.
MAX_BLOCK_SECONDS = 1.0


class WakingConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, with the backoff sleep replaced by a blocking wait.

    Two waits replace it: for an enqueue when the queue is empty, and for
    acks when this consumer holds more than half the messages it may
    prefetch. Fetching only once half its room is free (rather than a message
    per ack) costs a busy worker one fetch per ``prefetch / 2`` jobs, while
    the half it still holds keeps every thread busy.
    Delayed messages held by the consumer's thread still come due on time:
    the wait for an enqueue ends by the earliest of them.
    """

    def __init__(self, broker, queue_name: str, prefetch: int, timeout: int):
        super().__init__(broker, queue_name, prefetch, timeout)
        self.wake_key = f"{broker.namespace}:{queue_name}.wake"
        self._room = threading.Event()
        # On this consumer's queue, which is not message.queue_name once the
        # message was delayed (as dramatiq's ack has it).
        self._settlements = GroupCommit(
            lambda batch: broker.do_settle(queue_name, *itertools.chain(*batch))
        )

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        """Hand messages back to the front of their queue, and their jobs back to queued.

        Messages a stopping worker fetched (and so started, see
        ``actors.broker``) but no thread of it ran.
        """
        messages = list(messages)
        if not messages:
            return
        ids = [message.options["redis_message_id"] for message in messages]
        attempts = [getattr(message, "attempt", 0) for message in messages]
        self.broker.do_requeue(
            self.queue_name, len(ids), *ids, *self.broker.handing_back_args(attempts)
        )

    def ack(self, message: MessageProxy) -> None:
        self._settle("ack", message)

    def nack(self, message: MessageProxy) -> None:
        self._settle("nack", message)

    def _settle(self, kind: str, message: MessageProxy) -> None:
        """Ack or nack the message, writing the job's end with it, in a batch."""
        end = self.broker.ending_args(message.message_id, getattr(message, "ending", None))
        settlement = [kind, message.options["redis_message_id"], len(end), *end]
        try:
            self._settlements.send(settlement)
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None
        finally:
            self.queued_message_ids.discard(message.message_id)
            self._room.set()

    def __next__(self) -> MessageProxy | None:
        try:
            if not self.message_cache and not self._fetch():
                return None
            if self.message_cache:
                data, attempt = self.message_cache.pop(0)
                message = Message.decode(data)
                self.queued_message_ids.add(message.message_id)
                proxy = MessageProxy(message)
                proxy.attempt = attempt
                return proxy
            return None
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None

    def _fetch(self) -> bool:
        """Fetch what there is room for; wait when there is little room or nothing came."""
        self._room.clear()
        room = self.prefetch - self.outstanding_message_count
        if room < max(1, self.prefetch // 2):
            self._room.wait(self.timeout / 1000)
            return False
        # Pairs: (message data, the attempt the fetch started or 0).
        fetched = self.broker.do_fetch(self.queue_name, room, *self.broker.taking_args())
        self.message_cache = list(zip(fetched[::2], fetched[1::2], strict=True))
        if not self.message_cache:
            self._wait_for_enqueue()
        return bool(self.message_cache)

    def _wait_for_enqueue(self) -> None:
        """Block until an enqueue, the worker timeout, or the first delayed message is due."""
        thread = threading.current_thread()
        deadline = current_millis() + self.timeout
        due = _earliest_delayed(thread)
        if due is not None:
            deadline = min(deadline, due)
        while not isinstance(thread, ConsumerThread) or (thread.running and not thread.paused):
            seconds = min(MAX_BLOCK_SECONDS, (deadline - current_millis()) / 1000)
            # BLPOP would wait forever on 0.
            if seconds < 0.001 or self.broker.client.blpop([self.wake_key], timeout=seconds):
                return


def _earliest_delayed(thread: threading.Thread) -> int | None:
    """When the first delayed message a dramatiq ConsumerThread holds is due (ms), if any."""
    if not isinstance(thread, ConsumerThread):
        return None
    delayed = thread.delay_queue
    with delayed.mutex:
        return delayed.queue[0].priority if delayed.queue else None


class GroupCommit:
    """Sends items that threads hand in concurrently together, one call for many.

    A thread's :meth:`send` returns once its item was sent, or raises what
    sending it raised, as if it had sent it alone; while one call is under
    way, the items handed in meanwhile gather for the next, which the first
    of their threads makes. A worker whose threads finish jobs at once thus
    acks them in one round trip rather than one each, and waits no longer
    for it than for its own.
    """

    def __init__(self, send: Callable[[list[Any]], None]):
        self._send = send
        self._ready = threading.Condition()
        self._gathering: list[_Handed] = []
        self._sending = False

    def send(self, item: Any) -> None:
        handed = _Handed(item)
        with self._ready:
            self._gathering.append(handed)
            while not handed.done:
                if self._sending:
                    self._ready.wait()
                else:
                    self._send_gathered()
        if handed.error is not None:
            raise handed.error

    def _send_gathered(self) -> None:
        """Send what has gathered, the lock released meanwhile; tell every thread of it."""
        batch, self._gathering = self._gathering, []
        self._sending = True
        # What the others are told if this thread is interrupted while sending
        # (dramatiq's time limit): not knowing, they send again.
        error: BaseException | None = redis.ConnectionError("the sending thread was interrupted")
        self._ready.release()
        try:
            self._send([each.item for each in batch])
            error = None
        except Exception as raised:
            error = raised
        finally:
            self._ready.acquire()
            self._sending = False
            for each in batch:
                each.done, each.error = True, error
            self._ready.notify_all()


class _Handed:
    """An item handed to a :class:`GroupCommit`: whether it was sent, and what that raised."""

    def __init__(self, item: Any):
        self.item = item
        self.done = False
        self.error: BaseException | None = None
