"""One worker's attempt at a job, from the fetch that took its message to the ack that settles it.

dramatiq hands the middleware nothing but the message, and its worker, not
ours, calls the consumer's ack: what the middleware decide of an attempt
(its limit slot, its end) and what the consumer and the heartbeat know of it
(its number, whether it was lost) travel in one typed object, the
:class:`Attempt` that each message a consumer of ours fetches carries
(:class:`JobMessage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import dramatiq
from dramatiq.broker import MessageProxy

from .lifecycle import HandedOver, Transition
from .running import Running

if TYPE_CHECKING:
    from .consumer import RedisConsumer

#: The attempt each thread of this process runs now.
_RUNNING = Running()


@dataclass(eq=False)
class Attempt:
    """What a worker knows of its attempt at the job one message carries.

    ``number``: the attempt the fetch reserved (0 when the job had no record
    to reserve it in: its start makes one). ``consumer``: the consumer that
    fetched the message, which sends the start and the end. ``ending``: the
    end the job-state middleware decided, written with the message's ack.
    ``holds_limit``: the limits middleware took one of the job's
    concurrency slots for this run, to be released when it ends;
    ``waits_for_limit``: it set the message aside instead, until its limits
    allow it (nothing of this attempt ran). ``lost``: the message was handed
    to another worker while this one was presumed dead; nothing of this
    attempt is written any more. ``moved``: a delayed message, moved onto
    its queue as it came due, in the same call that took it off the delay
    queue: nothing is left to settle.
    """

    number: int
    consumer: RedisConsumer | None = None
    ending: Transition | None = None
    holds_limit: bool = False
    waits_for_limit: bool = False
    lost: bool = False
    moved: bool = False

    def attach_thread(self) -> None:
        """The calling thread runs the job now: :meth:`interrupt` reaches it."""
        _RUNNING.begin(self)

    def detach_thread(self) -> None:
        """The calling thread no longer runs the job."""
        _RUNNING.end(self)

    def interrupt(self, exception: type[BaseException]) -> bool:
        """Raise ``exception`` in the thread still running this attempt, if any; whether one was."""
        return _RUNNING.interrupt(self, exception)

    def lose(self) -> bool:
        """Mark the attempt lost; interrupt its run, if it has one, and say whether it had."""
        self.lost = True
        return self.interrupt(HandedOver)


class JobMessage(MessageProxy):
    """A message as a consumer of ours hands it to dramatiq's worker: with its :class:`Attempt`."""

    def __init__(self, message: dramatiq.Message, attempt: Attempt):
        super().__init__(message)
        # dramatiq's proxy reaches the message's fields through __getattr__,
        # which Python calls only after a failed lookup, at a microsecond a
        # time; the middleware and the worker read them dozens of times a
        # job. The message is a frozen dataclass: its fields are copied here.
        self.__dict__.update(vars(message))
        self.attempt = attempt


def attempt_of(message: dramatiq.Message) -> Attempt:
    """The attempt a message fetched by one of our consumers carries.

    Only a :class:`JobMessage` reaches the middleware in a worker of ours;
    any other message (one handed to a consumer's ``ack`` by hand) has no
    attempt: it gets a blank one, which keeps nothing.
    """
    return message.attempt if isinstance(message, JobMessage) else Attempt(0)
