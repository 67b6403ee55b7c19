"""One worker's attempt at a job, from the fetch that took its message to the ack that settles it.

dramatiq hands the middleware nothing but the message; what they decide of
an attempt travels with it in this one typed object (:func:`attempt_of`),
which the consumer that fetched the message reads when it settles it.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dramatiq
from dramatiq.threading import raise_thread_exception

from .lifecycle import HandedOver, Transition

if TYPE_CHECKING:
    from .consumer import WakingConsumer


@dataclass(eq=False)
class Attempt:
    """What a worker knows of its attempt at the job one message carries.

    ``number``: the attempt the fetch reserved (0 when the job had no record
    to reserve it in: its start makes one). ``holder``: the consumer that
    fetched the message, which sends the start and the end. ``ending``: the
    end the job-state middleware decided, written with the message's ack.
    ``lost``: the message was handed to another worker while this one was
    presumed dead; nothing of this attempt is written any more.
    """

    number: int
    holder: WakingConsumer | None = None
    ending: Transition | None = None
    lost: bool = False
    _thread: int | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def running_here(self) -> None:
        """The calling thread runs the job now."""
        with self._lock:
            self._thread = threading.get_ident()

    def done(self) -> None:
        """The thread that ran the job no longer does."""
        with self._lock:
            self._thread = None

    def interrupt(self, exception: type[BaseException]) -> bool:
        """Raise ``exception`` in the thread running the job, if one is; whether one was."""
        with self._lock:
            if self._thread is None:
                return False
            raise_thread_exception(self._thread, exception)
            return True

    def lose(self) -> bool:
        """Mark the attempt lost; interrupt its run, if it has one, and say whether it had."""
        self.lost = True
        return self.interrupt(HandedOver)


def attempt_of(message: dramatiq.Message) -> Attempt:
    """The attempt ``message`` carries (one with no number if no consumer of ours fetched it)."""
    attempt = getattr(message, "attempt", None)
    if attempt is None:
        attempt = Attempt(0)
        # A bare dramatiq Message (not a worker's proxy of one) is frozen.
        with contextlib.suppress(AttributeError):
            message.attempt = attempt
    return attempt
