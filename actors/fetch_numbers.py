"""Numbered fetches: a fetch whose reply a worker lost cannot leave jobs stranded.

A fetch that times out on the worker's side (Redis frozen past the read
timeout, or cut off) may still run once Redis reads it, even after the
worker's next fetch. Its script moves messages into this worker's acks and
reserves their attempts, and no thread of the worker ever sees them: they
would sit there, their jobs "queued", until the worker stops or is found
dead. So a process numbers its fetches of each queue, one at a time, and
tells each fetch the number of the last one whose reply it read. The fetch
script (``storage/lua/dispatch.lua``) records the latest fetch that ran with
what it took; a fetch sent after lost replies hands back what the recorded
one took if that is one of the lost, and a lost fetch that runs after a later
one takes nothing. A fetch that takes messages when no reply was lost costs
one command more: its record written, the one before it read in the same
command (``SET ... GET``).

Why numbers, and not "hand back what this worker does not hold": a
message fetched and run here may still be in the acks while its ack waits
in a :class:`~actors.batch_sender.BatchSender`, and one whose fetch reply is
on its way is in the acks before the worker knows of it; either would run
twice. Why not "the last fetch" alone: a lost fetch may run after the next
one, or never.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class FetchNumbers:
    """The numbers of one process's fetches of one queue, and the last whose reply it read.

    Fetches of the queue are made one at a time, so that every fetch before
    one was answered or given up when it is sent (the script counts on it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent = 0
        self._answered = 0

    @property
    def answered(self) -> int:
        """The number of the last fetch whose reply was read (0: none yet)."""
        return self._answered

    @contextmanager
    def next(self) -> Iterator[tuple[int, int]]:
        """Number a fetch: (its number, the last one answered), while it is made.

        It counts as answered if the block ends without an exception: a
        fetch that raised may have run all the same.
        """
        with self._lock:
            self._sent += 1
            number = self._sent
            yield number, self._answered
            self._answered = number
