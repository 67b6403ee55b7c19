"""Record every step of a job's life in the job store, as the lifecycle decides it."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import Middleware, SkipMessage

from .. import lifecycle, progress
from ..attempt import JobMessage, attempt_of
from ..record import Progress
from ..states import State
from ..store import JobStore


class JobState(Middleware):
    """Tells the lifecycle when a job starts, reports progress, and ends.

    The start and finish steps of :mod:`actors.consumer`: a job's start is
    handed to the consumer that fetched it (:meth:`~actors.consumer.RedisConsumer.start`),
    to be written with its next batch of acks; its end is decided here and
    left on the message's :class:`~actors.attempt.Attempt`, for the ack or
    nack that settles the message to write. It writes the start itself only
    for a job the fetch found no record of (a message sent without going
    through the API).

    Goes before ``Retries`` in the middleware list: dramatiq calls after_*
    hooks in reverse order, so when a job raises, Retries has already told a
    retry (the message is requeued) from the end (the message is failed, and
    dead-lettered).

    Parameters:
      store(JobStore): where records are kept.
      progress_interval_ms(int): Shortest time between two progress writes
        of one job: a job reporting in a tight loop must not flood Redis.
        A report held back is written by the next one due, or with the end.
    """

    def __init__(self, store: JobStore, *, progress_interval_ms: int = 100):
        self.store = store
        self.progress_interval_ms = progress_interval_ms
        # A worker thread runs one message from before_ to after_process_message.
        self._reports = threading.local()

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        logging.getLogger("dramatiq.worker.WorkerThread").__class__ = _WorkerThreadLogger

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        job_id, attempt = message.message_id, attempt_of(message)
        if attempt.lost:
            raise SkipMessage(f"job {job_id} was handed to another worker")
        attempt.attach_thread()
        if attempt.number and attempt.consumer is not None:
            start = lifecycle.start(attempt.number, worker_name=broker.worker_name)
            attempt.consumer.start(message, start)
        else:
            start = lifecycle.start_unrecorded(message, worker_name=broker.worker_name)
            applied, before, attempt.number = self.store.write(job_id, start)
            if not applied:
                attempt.detach_thread()
                raise SkipMessage(f"job {job_id} is {before}")
        self._reports.writer = ProgressWriter(
            self.store, job_id, attempt.number, self.progress_interval_ms
        )
        progress.install(self._reports.writer)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        progress.install(None)
        # A cancellation raised into the thread may have cut before_process_message
        # short of making this message's writer: the thread's last one is not its own.
        writer, self._reports.writer = getattr(self._reports, "writer", None), None
        attempt = attempt_of(message)
        attempt.detach_thread()
        if attempt.lost:
            return  # another worker's now: nothing of this run is written
        attempt.ending = lifecycle.finish(
            result=result,
            exception=exception,
            **retried_or_permanent(broker, message, exception),
            attempt=attempt.number,
            progress=writer.held if writer is not None else None,
        )

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        progress.install(None)
        attempt = attempt_of(message)
        attempt.detach_thread()
        if message.failed and not attempt.lost:
            # Skipped and failed: AgeLimit found the message too old to run.
            attempt.ending = lifecycle.dead_letter(
                "AgeLimitExceeded", "too old to run", attempt=attempt.number
            )


class ProgressWriter:
    """Writes one attempt's progress reports, at most one per ``interval_ms``.

    A report is not worth failing the job for: one that cannot be written
    (Redis is away) is held like one that comes too soon.

    ``held`` is the latest report not written yet, for the end to carry.
    """

    def __init__(self, store: JobStore, job_id: str, attempt: int, interval_ms: int):
        self.store = store
        self.job_id = job_id
        self.attempt = attempt
        self.interval = interval_ms / 1000
        self.held: Progress | None = None
        self._next_write = 0.0

    def __call__(self, value: float, note: str) -> None:
        now = time.monotonic()
        if now < self._next_write:
            self.held = Progress(value=value, message=note)
            return
        self.held = None
        self._next_write = now + self.interval
        report = lifecycle.report_progress(value, note, attempt=self.attempt)
        try:
            applied, before, _attempt = self.store.write(self.job_id, report)
        except redis.RedisError:
            # Redis is away or full: the job goes on, and a later write (the
            # end's at the latest, retried until written) carries the report.
            self.held = Progress(value=value, message=note)
            return
        if not applied and before is State.CANCELLED:
            # The cancellation's interrupt may have been missed (a lost
            # connection); a job that reports progress stops here instead.
            raise lifecycle.JobCancelled()
        if not applied:
            # Its start, which rides the next batch of acks, is not written
            # yet: the next report or the end carries this one.
            self.held = Progress(value=value, message=note)


class _WorkerThreadLogger(logging.Logger):
    """Dramatiq's worker-thread logger, without two warnings that are untrue here.

    That a job's result is discarded (this middleware keeps it), and that a
    message was skipped when it only waits for its job's limits (see
    :class:`~actors.middleware.Limits`). Dropped where they are logged: a
    filter would see them only once a record was made, a cost every job
    would pay.
    """

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if "you haven't added the Results middleware" in str(msg):
            return
        if args and isinstance(args[0], JobMessage) and args[0].attempt.waits_for_limit:
            return
        super().warning(msg, *args, **kwargs)


def retried_or_permanent(
    broker: dramatiq.Broker, message: dramatiq.Message, exception: BaseException | None
) -> dict[str, bool]:
    """How dramatiq's middleware judged an attempt, as :func:`lifecycle.finish` takes it.

    ``retried``: Retries sent the message again; ``permanent``: the job
    declared the exception one that retrying cannot fix (``throws``).
    """
    throws = broker.get_actor(message.actor_name).options.get("throws") or ()
    return {
        "retried": exception is not None and not message.failed,
        "permanent": isinstance(exception, throws),
    }
