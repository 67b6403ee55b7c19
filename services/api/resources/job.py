"""``/jobs/{job_id}`` and ``/jobs/{job_id}/retry``: one job's record, cancelling and retrying it."""

from __future__ import annotations

import time

import falcon

from actors import Queue, lifecycle
from actors.record import JobRecord
from actors.submission import retry

from ..contract import Operation, Response, state_change
from ..errors import no_such_job, unless_applied
from ..models import Job, wait_query
from ..streams import Streams

#: How long a ``?wait=`` goes without news before it reads the job's events anyway.
QUIET_SECONDS = 15


async def find(queue: Queue, job_id: str) -> JobRecord:
    """The job's record, or 404."""
    record = await queue.store.get(job_id)
    if record is None:
        raise no_such_job(job_id)
    return record


class JobItem:
    """``/jobs/{job_id}``: one job's record (optionally waiting for it to end), or cancel it."""

    def __init__(self, queue: Queue, streams: Streams, max_wait_seconds: float):
        self.queue = queue
        self.streams = streams
        self.operations = {
            "get": Operation(
                "A job's record",
                query=wait_query(max_wait_seconds),
                responses={
                    200: Response("The job", Job),
                    400: "wait is not a number of seconds within the limit",
                    404: "No such job",
                },
            ),
            "delete": state_change(
                "Cancel a job: a queued one never runs, a running one is interrupted",
                200,
                Response("The job, cancelled", Job),
                "No such job",
                "The job has already ended",
            ),
        }

    async def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        wait = self.operations["get"].read_query(req).wait
        record = await find(self.queue, job_id)
        if wait and not record.ended:
            with self.streams.hold():
                record = await self._wait(job_id, wait)
        resp.media = Job.of(record, self.queue)

    async def _wait(self, job_id: str, seconds: float) -> JobRecord:
        deadline = time.monotonic() + seconds
        # follow() ends once the job has ended, or when time is up.
        follow = self.streams.follow_job(job_id, quiet_seconds=QUIET_SECONDS, deadline=deadline)
        async for _ in follow:
            pass
        return await find(self.queue, job_id)

    async def on_delete(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        applied, before, _attempt = await self.queue.store.write(job_id, lifecycle.cancel())
        unless_applied(
            applied, before, no_such_job(job_id), f"job {job_id} has already ended: {before}"
        )
        resp.media = Job.of(await find(self.queue, job_id), self.queue)


class JobRetry:
    """``/jobs/{job_id}/retry``: run a failed or dead job again, under the same id."""

    operations = {
        "post": state_change(
            "Retry a failed or dead job",
            202,
            Response("The job, queued again", Job),
            "No such job",
            "The job is not failed or dead",
        )
    }

    def __init__(self, queue: Queue):
        self.queue = queue

    async def on_post(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        applied, before, record = await retry(self.queue, job_id)
        unless_applied(
            applied,
            before,
            no_such_job(job_id),
            f"only failed or dead jobs can be retried; job {job_id} is {before}",
        )
        resp.status = falcon.HTTP_202
        resp.location = f"/jobs/{job_id}"
        resp.media = Job.of(record, self.queue)
