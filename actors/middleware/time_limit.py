"""Jobs past their time limit are interrupted: dramatiq's ``TimeLimit``, aimed at the job.

dramatiq's keeps each deadline by thread ident and raises ``TimeLimitExceeded``
outside the lock its after-hook takes. A job that ends as its time runs out
may have the interrupt land in whatever its thread does next (the next job);
a deadline left behind by a thread that ended lands in the thread that gets
its ident next, which, still starting, dies inside ``Thread.start()`` and
leaves its starter waiting for good. This one keeps each deadline with the
job's message and interrupts through :class:`~actors.running.Running`: only
the live thread that still runs that message.
"""

from __future__ import annotations

import threading
import time

import dramatiq
from dramatiq.middleware import TimeLimit as DramatiqTimeLimit
from dramatiq.middleware import TimeLimitExceeded

from ..running import Running


class TimeLimit(DramatiqTimeLimit):
    """dramatiq's ``TimeLimit`` (same options, same exception), its deadlines kept by message."""

    def __init__(self, *, time_limit: float = 600_000, interval: int = 1000):
        super().__init__(time_limit=time_limit, interval=interval)
        self.manager = Deadlines(interval / 1000)

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        self.manager.start_once()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # A worker made in a process of one's own (not by dramatiq's command,
        # which boots the process first) is held to its time limits too.
        self.manager.start_once()

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        actor = broker.get_actor(message.actor_name)
        limit = message.options.get("time_limit") or actor.options.get(
            "time_limit", self.time_limit
        )
        self.manager.begin(message.message_id, limit / 1000)

    def after_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.Message, *, result=None, exception=None
    ) -> None:
        self.manager.end(message.message_id)

    after_skip_message = after_process_message


class Deadlines(threading.Thread):
    """The running jobs' deadlines, by message id; a job past its own is interrupted.

    Checked every ``interval`` seconds, from a thread of its own, started
    when the process or a worker boots.
    """

    def __init__(self, interval: float):
        super().__init__(daemon=True, name="time limits")
        self.interval = interval
        self.running = Running()
        self.logger = dramatiq.logging.get_logger(__name__, type(self))
        self._deadlines: dict[str, float] = {}
        self._lock = threading.Lock()

    def start_once(self) -> None:
        with self._lock:
            if self.ident is None:
                self.start()

    def begin(self, message_id: str, seconds: float) -> None:
        """The calling thread runs ``message_id`` now, for ``seconds`` at most."""
        with self._lock:
            self._deadlines[message_id] = time.monotonic() + seconds
        self.running.begin(message_id)

    def end(self, message_id: str) -> None:
        """The calling thread is done with ``message_id``: nothing interrupts it for it any more."""
        self.running.end(message_id)
        with self._lock:
            self._deadlines.pop(message_id, None)

    def due(self, now: float) -> list[str]:
        """The messages whose deadline passed by ``now``, forgotten here."""
        with self._lock:
            expired = [message_id for message_id, at in self._deadlines.items() if at <= now]
            for message_id in expired:
                del self._deadlines[message_id]
        return expired

    def interrupt(self, message_ids: list[str]) -> None:
        """Raise ``TimeLimitExceeded`` in each live thread still running one of ``message_ids``."""
        for message_id in message_ids:
            if self.running.interrupt(message_id, TimeLimitExceeded):
                self.logger.warning(
                    "Time limit exceeded. Raising exception in the thread running message %s.",
                    message_id,
                )

    def run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.interrupt(self.due(time.monotonic()))
            except Exception:
                self.logger.exception("Unexpected error while enforcing time limits.")
