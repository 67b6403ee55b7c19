"""Stop running jobs that a user cancels.

Each worker process listens on the store's cancellation channel. When the
cancelled job runs in one of its threads, that thread gets a
:class:`~actors.lifecycle.JobCancelled` raised in it, the way dramatiq's own
``TimeLimit`` interrupts jobs. Queued jobs need none of this: the fetch
drops them. A job cancelled after this worker fetched it, but before one of
its threads took it up, is remembered and skipped when its turn comes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import dramatiq
import redis
from dramatiq.logging import get_logger
from dramatiq.middleware import Middleware, SkipMessage

from ..lifecycle import JobCancelled
from ..running import Running
from ..store import JobStore

#: How many cancellations of jobs not running here are remembered: those of
#: jobs this worker holds are heard just before their turn comes.
REMEMBERED_CANCELLATIONS = 10_000


class Cancellation(Middleware):
    """Interrupts the thread running a job when that job is cancelled.

    Goes before ``JobState`` in the middleware list, so that a job is known
    to be running here before its record says "running".
    """

    def __init__(self, store: JobStore):
        self.store = store
        self.logger = get_logger(__name__, type(self))
        self._running = Running()  # by job id
        self._cancelled: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # A stop of its own: a worker started after another stopped, in the
        # same process, listens until it stops too.
        self._stopping = threading.Event()
        self._listener = threading.Thread(
            target=self._listen, args=(self._stopping,), name="cancellations", daemon=True
        )
        self._listener.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stopping.set()

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        with self._lock:
            if message.message_id in self._cancelled:
                del self._cancelled[message.message_id]
                raise SkipMessage(f"job {message.message_id} was cancelled")
            self._running.begin(message.message_id)

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        self._forget(message.message_id)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        self._forget(message.message_id)

    def _forget(self, job_id: str) -> None:
        self._running.end(job_id)

    def cancel_if_running(self, job_id: str) -> bool:
        """Interrupt ``job_id`` if one of this process's threads runs it, else remember it."""
        with self._lock:
            if self._running.interrupt(job_id, JobCancelled):
                self.logger.info("Cancelling job %s.", job_id)
                return True
            self._cancelled[job_id] = None
            if len(self._cancelled) > REMEMBERED_CANCELLATIONS:
                self._cancelled.popitem(last=False)
            return False

    def _listen(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                with self.store.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    pubsub.subscribe(self.store.keys.cancellations)
                    while not stopping.is_set():
                        message = pubsub.get_message(timeout=1.0)
                        if message is not None:
                            self.cancel_if_running(self.store.keys.job_id(message["data"]))
            except redis.RedisError as error:
                self.logger.warning("Cancellation listener lost Redis (%s); retrying.", error)
                time.sleep(1)
