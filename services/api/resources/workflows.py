"""``/workflows``: submitting chains and groups of jobs, following, cancelling and retrying them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

import falcon
from pydantic import WithJsonSchema, create_model

from actors.canvas import MAX_STEPS, Node, Step, WorkflowRequest
from actors.workflow_store import WorkflowRecord
from actors.workflows import InvalidWorkflow, Workflows

from .. import sse
from ..contract import Access, Operation, Response
from ..errors import unprocessable
from ..models import (
    WORKFLOW_EVENT_KINDS,
    EventsHeaders,
    Workflow,
    WorkflowEvent,
    WorkflowList,
    WorkflowListQuery,
    sse_event_schema,
)
from ..openapi import schema
from ..streams import StreamSlots

#: How deep ``/openapi.json`` spells nested chains and groups out (they nest deeper alike).
DOCUMENTED_DEPTH = 2
#: How often an event stream says it is still there when nothing happens.
KEEPALIVE_SECONDS = 15


def _node_schema(depth: int) -> dict[str, Any]:
    """A step, chain or group as JSON Schema, nested ``depth`` levels (references cannot be:
    every schema of the contract is self-contained)."""
    members = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_STEPS,
        "items": _node_schema(depth - 1)
        if depth
        else {"type": "object", "description": "A step, a chain or a group, as above."},
    }
    nested = [
        {
            "type": "object",
            "required": [name],
            "properties": {name: {**members, "description": description}},
            "additionalProperties": False,
        }
        for name, description in (
            ("chain", "Nodes one after the other; each receives the result of the one before."),
            ("group", "Nodes side by side; the node after the group receives the list of results."),
        )
    ]
    return {"oneOf": [schema(Step, "validation"), *nested]}


#: The body of POST /workflows: checked as :class:`WorkflowRequest` checks it.
WorkflowSubmission = create_model(
    "WorkflowSubmission",
    __base__=WorkflowRequest,
    workflow=(Annotated[Node, WithJsonSchema(_node_schema(DOCUMENTED_DEPTH))], ...),
)


def find(workflows: Workflows, workflow_id: str) -> WorkflowRecord:
    """The workflow's record, or 404."""
    record = workflows.store.get(workflow_id)
    if record is None:
        raise falcon.HTTPNotFound(description=f"no workflow {workflow_id} (or it has expired)")
    return record


class WorkflowCollection:
    """``/workflows``: submit a workflow, or list workflows newest first."""

    operations = {
        "post": Operation(
            "Submit a workflow: a chain or a group of steps, nested as you like",
            body=WorkflowSubmission,
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

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = self.operations["post"].read_body(req)
        try:
            record = self.workflows.submit(request.workflow)
        except InvalidWorkflow as error:
            raise unprocessable(str(error)) from None
        resp.status = falcon.HTTP_202
        resp.location = f"/workflows/{record.id}"
        resp.media = Workflow.of(record)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = self.operations["get"].read_query(req)
        records, next_cursor = self.workflows.store.list(
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
        "delete": Operation(
            "Cancel a workflow: its waiting and queued steps never run, running ones are"
            " interrupted",
            responses={
                200: Response("The workflow, cancelled", Workflow),
                404: "No such workflow",
                409: "The workflow has already ended",
            },
            access=Access.WRITE,
        ),
    }

    def __init__(self, workflows: Workflows):
        self.workflows = workflows

    def on_get(self, req: falcon.Request, resp: falcon.Response, workflow_id: str) -> None:
        resp.media = Workflow.of(find(self.workflows, workflow_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, workflow_id: str) -> None:
        applied, before = self.workflows.cancel(workflow_id)
        if before is None:
            find(self.workflows, workflow_id)
        if not applied:
            raise falcon.HTTPConflict(
                description=f"workflow {workflow_id} has already ended: {before}"
            )
        resp.media = Workflow.of(find(self.workflows, workflow_id))


class WorkflowRetry:
    """``/workflows/{workflow_id}/retry``: run again the steps that did not succeed."""

    operations = {
        "post": Operation(
            "Retry a failed or cancelled workflow: only its steps that did not succeed run again",
            responses={
                202: Response("The workflow, running again", Workflow),
                404: "No such workflow",
                409: "The workflow is not failed or cancelled",
            },
            access=Access.WRITE,
        )
    }

    def __init__(self, workflows: Workflows):
        self.workflows = workflows

    def on_post(self, req: falcon.Request, resp: falcon.Response, workflow_id: str) -> None:
        applied, before = self.workflows.retry(workflow_id)
        if before is None:
            find(self.workflows, workflow_id)
        if not applied:
            raise falcon.HTTPConflict(
                description="only failed or cancelled workflows can be retried;"
                f" workflow {workflow_id} is {before}"
            )
        resp.status = falcon.HTTP_202
        resp.location = f"/workflows/{workflow_id}"
        resp.media = Workflow.of(find(self.workflows, workflow_id))


class WorkflowEvents:
    """``/workflows/{workflow_id}/events``: each step's changes, then the end, as SSE."""

    operations = {
        "get": Operation(
            "Follow a workflow: its steps' changes as Server-Sent Events, until it ends",
            headers=EventsHeaders,
            responses={
                200: Response(
                    "An event stream of `workflow` events",
                    media_type="text/event-stream",
                    schema=sse_event_schema(
                        schema(WorkflowEvent, "validation"), WORKFLOW_EVENT_KINDS
                    ),
                ),
                204: Response("The workflow has ended and the client has every event"),
                400: "Last-Event-ID is not an event id",
                404: "No such workflow",
            },
        )
    }

    def __init__(self, workflows: Workflows, slots: StreamSlots, stream_seconds: int):
        self.workflows = workflows
        self.slots = slots
        self.stream_seconds = stream_seconds

    def on_get(self, req: falcon.Request, resp: falcon.Response, workflow_id: str) -> None:
        record = find(self.workflows, workflow_id)
        after = self.operations["get"].read_headers(req).last_event_id
        if self.workflows.store.ended(workflow_id, record.state, after=after):
            resp.status = falcon.HTTP_204
            return
        resp.content_type = "text/event-stream"
        resp.cache_control = ["no-cache"]
        resp.set_header("X-Accel-Buffering", "no")
        resp.stream = self.slots.stream(self._events(workflow_id, after))

    def _events(self, workflow_id: str, after: str) -> Iterator[bytes]:
        yield sse.RECONNECT
        follow = self.workflows.store.follow(
            workflow_id,
            after=after,
            block_ms=KEEPALIVE_SECONDS * 1000,
            deadline=time.monotonic() + self.stream_seconds,
        )
        for item in follow:
            if item is None:
                yield sse.KEEPALIVE
                continue
            event_id, event = item
            yield sse.frame(event_id, WORKFLOW_EVENT_KINDS[0], event)
