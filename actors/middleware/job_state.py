"""Record every step of a job's life in the job store, as the lifecycle decides it."""

from __future__ import annotations

import os
import socket
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from .. import lifecycle, progress
from ..store import JobStore


class JobState(Middleware):
    """Tells the lifecycle when a job starts, reports progress, and ends.

    Goes before ``Retries`` in the middleware list: dramatiq calls after_*
    hooks in reverse order, so when a job raises, Retries has already told a
    retry (the message is requeued) from the end (the message is failed, and
    dead-lettered).
    """

    def __init__(self, store: JobStore):
        self.store = store
        #: This process, as job records name the worker that ran them.
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        job_id = message.message_id
        applied, before = self.store.apply(
            job_id, lifecycle.start(message, worker_name=self.worker_name)
        )
        if not applied:
            raise SkipMessage(f"job {job_id} is {before}")
        progress.install(lambda value, note: self._report(job_id, value, note))

    def _report(self, job_id: str, value: float, note: str) -> None:
        applied, before = self.store.apply(job_id, lifecycle.report_progress(value, note))
        if not applied and before is lifecycle.State.CANCELLED:
            # The cancellation's interrupt may have been missed (a lost
            # connection); a job that reports progress stops here instead.
            raise lifecycle.JobCancelled()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        progress.install(None)
        throws = broker.get_actor(message.actor_name).options.get("throws") or ()
        outcome = lifecycle.finish(
            result=result,
            exception=exception,
            retried=exception is not None and not message.failed,
            permanent=isinstance(exception, throws),
        )
        self.store.apply(message.message_id, outcome)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        progress.install(None)
        if message.failed:
            # Skipped and failed: AgeLimit found the message too old to run.
            self.store.apply(
                message.message_id, lifecycle.dead_letter("AgeLimitExceeded", "too old to run")
            )
