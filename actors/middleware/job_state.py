"""Record every step of a job's life in the job store."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from .. import progress
from ..registry import JobCancelled, job_name
from ..store import JobStore, now_ms

#: A job may (re)start from these states. Not from "cancelled" (the user
#: said no) nor "succeeded" (a duplicate delivery must not run it twice);
#: "failed" and "dead" are here because the dashboard can requeue them.
RUNNABLE_FROM = ("queued", "delayed", "retrying", "running", "failed", "dead")


class JobState(Middleware):
    """Moves jobs through running, succeeded, retrying, failed, dead.

    Goes before ``Retries`` in the middleware list: dramatiq calls after_*
    hooks in reverse order, so when a job raises, Retries has already told a
    retry (the message is requeued) from the end (the message is failed, and
    dead-lettered).
    """

    def __init__(self, store: JobStore):
        self.store = store

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        job_id = message.message_id
        applied, before = self.store.transition(
            job_id,
            "running",
            allowed_from=RUNNABLE_FROM,
            fields={
                "id": job_id,
                "actor": job_name(message.actor_name),
                "queue": message.queue_name.removesuffix(".DQ"),
                "args": list(message.args),
                "kwargs": message.kwargs,
                "enqueued_at": message.message_timestamp,
                "attempts": message.options.get("retries", 0) + 1,
                "started_at": now_ms(),
                # Which worker runs it: its host (in a container, the container's
                # id) and process, for the operator following a job.
                "worker": f"{socket.gethostname()}:{os.getpid()}",
                "redis_message_id": message.options.get("redis_message_id"),
                "error": None,
            },
            create_missing=True,
        )
        if not applied:
            raise SkipMessage(f"job {job_id} is {before}")
        progress.install(lambda value, note: self._report(job_id, value, note))

    def _report(self, job_id: str, value: float, note: str) -> None:
        applied, before = self.store.transition(
            job_id,
            "running",
            allowed_from=("running",),
            fields={"progress": {"value": value, "message": note}},
        )
        if not applied and before == "cancelled":
            # The cancellation's interrupt may have been missed (a lost
            # connection); a job that reports progress stops here instead.
            raise JobCancelled()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        progress.install(None)
        job_id = message.message_id
        if exception is None:
            self.store.transition(
                job_id,
                "succeeded",
                allowed_from=("running",),
                fields={"result": _jsonable(result), "finished_at": now_ms()},
            )
            return

        error = {"type": type(exception).__name__, "message": str(exception)}
        if isinstance(exception, JobCancelled):
            state = "cancelled"
        elif not message.failed:
            state = "retrying"
        elif _declared_permanent(broker, message, exception):
            state = "failed"
        else:
            state = "dead"
        fields = {"error": error}
        if state != "retrying":
            fields["finished_at"] = now_ms()
        self.store.transition(job_id, state, allowed_from=("running",), fields=fields)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        progress.install(None)
        if message.failed:
            # Skipped and failed: AgeLimit found the message too old to run.
            self.store.transition(
                message.message_id,
                "dead",
                allowed_from=RUNNABLE_FROM,
                fields={
                    "error": {"type": "AgeLimitExceeded", "message": "too old to run"},
                    "finished_at": now_ms(),
                },
            )


def _declared_permanent(
    broker: dramatiq.Broker, message: dramatiq.Message, exception: BaseException
) -> bool:
    throws = broker.get_actor(message.actor_name).options.get("throws") or ()
    return isinstance(exception, throws)


def _jsonable(result: Any) -> Any:
    """``result`` if it is JSON (NaN and infinities are not), else its repr."""
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        return repr(result)
    return result
