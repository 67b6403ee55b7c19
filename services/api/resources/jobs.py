"""``/jobs`` and ``/jobs/batch``: submitting jobs, and listing them."""

from __future__ import annotations

import asyncio

import falcon

from actors import Queue
from actors.job_request import JobRequest
from actors.record import JobRecord
from actors.submission import InvalidJob, prepare_many, write

from .. import media
from ..contract import BODY_ERRORS, Access, Operation, Response
from ..errors import unprocessable
from ..models import BatchResult, Job, JobList, ListQuery, SubmitHeaders, batch
from ..submissions import Submissions


class JobCollection:
    """``/jobs``: submit one job, or list jobs newest first."""

    def __init__(self, queue: Queue, submissions: Submissions, submission: type[JobRequest]):
        self.queue = queue
        self.submissions = submissions
        self.operations = {
            "post": Operation(
                "Submit a job",
                body=submission,
                headers=SubmitHeaders,
                responses={
                    202: Response("The job was accepted: this request made it", Job),
                    200: Response(
                        "The job an earlier request made with this Idempotency-Key; "
                        "nothing new was enqueued",
                        Job,
                    ),
                    **BODY_ERRORS,
                },
                access=Access.WRITE,
            ),
            "get": Operation(
                "List jobs, newest first",
                query=ListQuery,
                responses={200: Response("A page of jobs", JobList), 400: "A parameter is invalid"},
            ),
        }

    async def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        operation = self.operations["post"]
        headers = operation.read_headers(req)
        request = await operation.read_body(req)
        try:
            created, record = await self.submissions.submit(
                request, idempotency_key=headers.idempotency_key
            )
        except InvalidJob as error:
            raise unprocessable(str(error)) from None
        resp.status = falcon.HTTP_202 if created else falcon.HTTP_200
        resp.location = f"/jobs/{record.id}"
        resp.media = Job.of(record, self.queue)

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = self.operations["get"].read_query(req)
        records, next_cursor = await self.queue.store.list(
            state=query.state, actor=query.actor, limit=query.limit, cursor=query.cursor
        )
        resp.media = JobList(jobs=Job.of_many(records, self.queue), next_cursor=next_cursor)


class JobBatch:
    """``/jobs/batch``: submit many jobs in one request and one round trip to Redis."""

    def __init__(self, queue: Queue, submission: type[JobRequest]):
        self.queue = queue
        self.operations = {
            "post": Operation(
                "Submit many jobs at once, all or none",
                body=batch(submission),
                headers=SubmitHeaders,
                responses={
                    202: Response("Every job was accepted: this request made them", BatchResult),
                    200: Response(
                        "The jobs an earlier request made with this Idempotency-Key; "
                        "nothing new was enqueued",
                        BatchResult,
                    ),
                    **BODY_ERRORS,
                },
                access=Access.WRITE,
            )
        }

    async def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        operation = self.operations["post"]
        headers = operation.read_headers(req)
        requests = (await operation.read_body(req)).jobs
        try:
            creation = prepare_many(self.queue, requests, idempotency_key=headers.idempotency_key)
            writing = asyncio.ensure_future(write(self.queue, creation))
            try:
                # Once its script call is on its way (a large call goes out at
                # once), the answer for new jobs is made while Redis runs it.
                await asyncio.sleep(0)
                answer = self._answer(creation.records)
                created, records = await writing
            finally:
                writing.cancel()
        except InvalidJob as error:
            raise unprocessable(str(error)) from None
        resp.status = falcon.HTTP_202 if created else falcon.HTTP_200
        resp.content_type = falcon.MEDIA_JSON
        # Not every job was new: the answer is the jobs the key names.
        resp.data = answer if created else self._answer(records)

    def _answer(self, records: list[JobRecord]) -> bytes:
        return media.dumps(BatchResult(jobs=Job.of_many(records, self.queue))).encode()
