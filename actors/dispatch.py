"""Fair dispatch: a worker process holds only the messages its threads will start soon.

Dramatiq's consumers each prefetch twice the worker's threads, per queue: a
worker could take a backlog of long jobs that it runs one batch after
another while other workers sit idle. Here the consumers of one worker
process share one :class:`Room`: one message per thread, and beyond that
only as many as the threads will take up within :data:`SOON_SECONDS` at the
rate jobs end. Long jobs get no spare (a worker fetches when a thread frees);
short ones a batch, so that a busy worker still fetches many messages in one
round trip and its threads never wait for one.

The more urgent lane fetches first: a consumer waits while one of a more
urgent lane is waiting for room, so a high-priority job takes the next free
thread however long the normal backlog.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import dramatiq
from dramatiq.middleware import Middleware

from .lanes import PRIORITIES

#: A worker holds beyond its free threads only the messages its threads will
#: start within this long, at the rate they end jobs.
SOON_SECONDS = 0.05
#: How long the rate at which jobs end is measured over.
RATE_WINDOW_SECONDS = 0.25
#: At most this many messages a thread held beyond the threads' own, however
#: fast jobs end: a worker fetches again once half its room is free, so that
#: short jobs come many to a fetch and a settle, while one fetch's script,
#: which Redis runs whole, stays short.
MAX_SPARE_PER_THREAD = 4


class Room:
    """The messages a worker process may hold across its queues, shared by their consumers.

    Parameters:
      threads(int): the worker threads that run what is held.
    """

    def __init__(self, threads: int):
        self.threads = threads
        self._held = 0
        self._waiting: Counter[int] = Counter()
        self._changed = threading.Condition()
        self._ended = 0
        self._window_start = time.monotonic()
        self._rate = 0.0

    @property
    def spare(self) -> int:
        """How many messages to hold beyond the threads: those they will start soon."""
        return min(MAX_SPARE_PER_THREAD * self.threads, int(self._rate * SOON_SECONDS))

    def take(self, rank: int, timeout: float) -> int:
        """Wait up to ``timeout`` until a consumer of lane ``rank`` may fetch; how many (0: none).

        What is taken counts as held until :meth:`give_back`.
        """
        with self._changed:
            self._waiting[rank] += 1
            try:
                if not self._changed.wait_for(lambda: self._may_fetch(rank), timeout):
                    return 0
            finally:
                self._waiting[rank] -= 1
            room = self.threads + self.spare - self._held
            self._held += room
            return room

    def may_fetch(self, rank: int) -> bool:
        """Whether a consumer of lane ``rank`` may fetch now, without waiting."""
        with self._changed:
            return self._may_fetch(rank)

    def give_back(self, count: int, *, ended: int = 0) -> None:
        """``count`` messages are no longer held; ``ended`` of them because their job ran."""
        with self._changed:
            self._held -= count
            self._ended += ended
            now = time.monotonic()
            if now - self._window_start >= RATE_WINDOW_SECONDS:
                self._rate = self._ended / (now - self._window_start)
                self._ended, self._window_start = 0, now
            # A consumer woken while there is no batch worth fetching would
            # only wait again: a busy worker gives back one message a job.
            if self._batch_worth_it():
                self._changed.notify_all()

    def _may_fetch(self, rank: int) -> bool:
        if not self._batch_worth_it():
            return False
        return not any(waiting for lane, waiting in self._waiting.items() if lane < rank)

    def _batch_worth_it(self) -> bool:
        """Whether to fetch: a thread has no message, or half of what may be held is free."""
        capacity = self.threads + self.spare
        room = capacity - self._held
        # Every thread has a message: fetch again once a batch is worth it.
        return room >= 1 and (self._held < self.threads or room >= capacity // 2)


def rank(queue_name: str) -> int:
    """How urgent a queue's lane is (lower first), as its actors' priority says."""
    for priority, value in PRIORITIES.items():
        if queue_name.endswith(f"-{priority}"):
            return value
    return PRIORITIES["normal"]


class Dispatch(Middleware):
    """Gives a booting worker's broker the :class:`Room` its consumers share."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        broker.room = Room(worker.worker_threads)
