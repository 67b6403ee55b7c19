"""``/workflows``: submitting chains and groups of jobs, following, cancelling and retrying them.

The workflows' operations run on the app's asyncio client, as the jobs' do.
Following a workflow holds no thread: its event stream is followed as a
job's is (``..streams``).
"""

from __future__ import annotations

import time

import falcon
import falcon.asgi

from actors.canvas import WorkflowRequest
from actors.workflow_store import WorkflowRecord
from actors.workflows import InvalidWorkflow, Workflows

from ..contract import Access, Operation, Response, state_change
from ..errors import no_such_workflow, unless_applied, unprocessable
from ..models import (
    WORKFLOW_EVENT_KINDS,
    EventsHeaders,
    Workflow,
    WorkflowEvent,
    WorkflowList,
    WorkflowListQuery,
)
from ..streams import Streams
from .events import KEEPALIVE_SECONDS, answer


async def find(workflows: Workflows, workflow_id: str) -> WorkflowRecord:
    """The workflow's record, or 404."""
    record = await workflows.store.get(workflow_id)
    if record is None:
        raise no_such_workflow(workflow_id)
    return record


class WorkflowCollection:
    """``/workflows``: submit a workflow, or list workflows newest first."""

    operations = {
        "post": Operation(
            "Submit a workflow: a chain or a group of steps, nested as you like",
            body=WorkflowRequest,
            responses={
                202: Response("The workflow was accepted; its first steps are queued", Workflow),
                400: "The body is not valid JSON",
                413: "The body is larger than the limit",
                415: "The body is not application/json",
                422: "A step names no public job, or its arguments or options do not fit it",
            },
            access=Access.WRITE,
        ),
        "get": Operation(
            "List workflows, newest first",
            query=WorkflowListQuery,
            responses={
                200: Response("A page of workflows", WorkflowList),
                400: "A parameter is invalid",
            },
        ),
    }

    def __init__(self, workflows: Workflows):
        self.workflows = workflows

    async def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = await self.operations["post"].read_body(req)
        try:
            record = await self.workflows.submit(request.workflow)
        except InvalidWorkflow as error:
            raise unprocessable(str(error)) from None
        resp.status = falcon.HTTP_202
        resp.location = f"/workflows/{record.id}"
        resp.media = Workflow.of(record)

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = self.operations["get"].read_query(req)
        records, next_cursor = await self.workflows.store.list(
            state=query.state, limit=query.limit, cursor=query.cursor
        )
        resp.media = WorkflowList(
            workflows=[Workflow.of(record) for record in records], next_cursor=next_cursor
        )


class WorkflowItem:
    """``/workflows/{workflow_id}``: a workflow and its steps, or cancel it."""

    operations = {
        "get": Operation(
            "A workflow, with the state of each step",
            responses={200: Response("The workflow", Workflow), 404: "No such workflow"},
        ),
        "delete": state_change(
            "Cancel a workflow: its waiting and queued steps never run, running ones are"
            " interrupted",
            200,
            Response("The workflow, cancelled", Workflow),
            "No such workflow",
            "The workflow has already ended",
        ),
    }

    def __init__(self, workflows: Workflows):
        self.workflows = workflows

    async def on_get(self, req: falcon.Request, resp: falcon.Response, workflow_id: str) -> None:
        resp.media = Workflow.of(await find(self.workflows, workflow_id))

    async def on_delete(self, req: falcon.Request, resp: falcon.Response, workflow_id: str) -> None:
        applied, before = await self.workflows.cancel(workflow_id)
        unless_applied(
            applied,
            before,
            no_such_workflow(workflow_id),
            f"workflow {workflow_id} has already ended: {before}",
        )
        resp.media = Workflow.of(await find(self.workflows, workflow_id))


class WorkflowRetry:
    """``/workflows/{workflow_id}/retry``: run again the steps that did not succeed."""

    operations = {
        "post": state_change(
            "Retry a failed or cancelled workflow: only its steps that did not succeed run again",
            202,
            Response("The workflow, running again", Workflow),
            "No such workflow",
            "The workflow is not failed or cancelled",
        )
    }

    def __init__(self, workflows: Workflows):
        self.workflows = workflows

    async def on_post(self, req: falcon.Request, resp: falcon.Response, workflow_id: str) -> None:
        applied, before = await self.workflows.retry(workflow_id)
        unless_applied(
            applied,
            before,
            no_such_workflow(workflow_id),
            "only failed or cancelled workflows can be retried;"
            f" workflow {workflow_id} is {before}",
        )
        resp.status = falcon.HTTP_202
        resp.location = f"/workflows/{workflow_id}"
        resp.media = Workflow.of(await find(self.workflows, workflow_id))


class WorkflowEvents:
    """``/workflows/{workflow_id}/events``: each step's changes, then the end, as SSE."""

    operations = {
        "get": Operation(
            "Follow a workflow: its steps' changes as Server-Sent Events, until it ends",
            headers=EventsHeaders,
            responses={
                200: Response(
                    "An event stream of `workflow` events",
                    WorkflowEvent,
                    media_type="text/event-stream",
                    events=WORKFLOW_EVENT_KINDS,
                ),
                204: Response("The workflow has ended and the client has every event"),
                400: "Last-Event-ID is not an event id",
                404: "No such workflow",
            },
        )
    }

    def __init__(self, workflows: Workflows, streams: Streams, stream_seconds: int):
        self.workflows = workflows
        self.streams = streams
        self.stream_seconds = stream_seconds

    async def on_get(self, req: falcon.Request, resp: falcon.Response, workflow_id: str) -> None:
        record = await find(self.workflows, workflow_id)
        after = self.operations["get"].read_headers(req).last_event_id
        store = self.workflows.store
        ended = await store.ended(workflow_id, record.state, after=after)
        follow = self.streams.follow_workflow(
            store,
            workflow_id,
            after=after,
            quiet_seconds=KEEPALIVE_SECONDS,
            deadline=time.monotonic() + self.stream_seconds,
        )
        answer(resp, self.streams, ended, follow, lambda event: WORKFLOW_EVENT_KINDS[0])
