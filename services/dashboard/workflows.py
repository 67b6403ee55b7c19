"""Workflow pages: every workflow, and one drawn as its DAG, its steps coloured by state, live.

What ``/workflows`` offers over HTTP, in the dashboard's look and behind its
credentials: the workflows newest first, filtered by state; a workflow's
page draws its steps (each linked to its job's page) in columns, each step
one column after the last of its parents, and its script (the job pages',
``static/jobs.js``) follows the workflow over the API's own event-stream
resource, served here too, until it ends. Cancel and Retry are the
operations ``DELETE /workflows/{id}`` and ``POST /workflows/{id}/retry``
run, protected by the dashboard's CSRF cookie.
"""

from __future__ import annotations

from dataclasses import dataclass

from dramatiq_dashboard import DashboardApp
from dramatiq_dashboard.csrf import csrf_protect
from dramatiq_dashboard.http import Request, handler, redirect
from pydantic import BaseModel, ConfigDict, ValidationError

from actors.workflow_store import ENDED, RETRYABLE, WorkflowRecord, WorkflowState
from actors.workflows import Workflows

from .guard import BadRequest, acted, found, only_get, only_post

#: Workflows per page of the list.
PAGE_SIZE = 50
#: A step's box in the drawing, and the room around it, in pixels.
STEP_WIDTH, STEP_HEIGHT, COLUMN_GAP, ROW_GAP, MARGIN = 180, 40, 60, 12, 10


class WorkflowFilter(BaseModel):
    """The query of the workflows page: which state, if any."""

    model_config = ConfigDict(extra="forbid")

    state: WorkflowState | None = None


@dataclass(frozen=True)
class Box:
    """Where a step is drawn: its top-left corner."""

    x: int
    y: int


@dataclass(frozen=True)
class Drawing:
    """A workflow laid out: each step's box, the edges between them, the size of it all."""

    boxes: dict[int, Box]
    edges: list[tuple[Box, Box]]
    width: int
    height: int


def draw(record: WorkflowRecord) -> Drawing:
    """Each step in the column after its deepest parent, in the order it was written."""
    column: dict[int, int] = {}
    for step in record.steps:  # parents come first: a step follows the steps written before it
        column[step.step] = 1 + max((column[p] for p in step.parents), default=-1)
    rows: dict[int, int] = {}
    boxes = {}
    for step in record.steps:
        row = rows.get(column[step.step], 0)
        rows[column[step.step]] = row + 1
        boxes[step.step] = Box(
            MARGIN + column[step.step] * (STEP_WIDTH + COLUMN_GAP),
            MARGIN + row * (STEP_HEIGHT + ROW_GAP),
        )
    edges = [(boxes[p], boxes[step.step]) for step in record.steps for p in step.parents]
    columns, deepest = max(column.values(), default=0) + 1, max(rows.values(), default=1)
    return Drawing(
        boxes,
        edges,
        width=2 * MARGIN + columns * STEP_WIDTH + (columns - 1) * COLUMN_GAP,
        height=2 * MARGIN + deepest * STEP_HEIGHT + (deepest - 1) * ROW_GAP,
    )


class WorkflowPages:
    """Workflow pages.

    ``/workflows``: the workflows, newest first, filtered by state.
    ``/workflows/<id>``: one, drawn. ``/workflows/<id>/cancel`` and
    ``/retry``: POST does it, then shows the workflow. (Its event stream is
    the API's resource: see ``streams.py``.)
    """

    #: They run no script but the job pages' file: the Content-Security-Policy forbids any other.
    policy = True

    def __init__(self, dashboard: DashboardApp, workflows: Workflows):
        self.workflows = workflows
        self.templates = dashboard.templates
        self.make_uri = dashboard.make_uri
        self.routes = [
            ("/workflows", self.index),
            (r"/workflows/(?P<workflow_id>[^/]+)", self.workflow),
            (r"/workflows/(?P<workflow_id>[^/]+)/(?P<action>cancel|retry)", self.act),
        ]

    @handler
    def index(self, req: Request):
        only_get(req)
        try:
            query = WorkflowFilter.model_validate({k: v for k, v in req.params.items() if v})
        except ValidationError:
            raise BadRequest(f"state must be one of {', '.join(WorkflowState)}") from None
        records, _cursor = self.workflows.store.list(state=query.state, limit=PAGE_SIZE)
        return self.templates.get_template("workflows.html").render(
            request=req, records=records, states=list(WorkflowState), chosen=query.state
        )

    @handler
    @csrf_protect
    def workflow(self, req: Request, *, workflow_id: str):
        only_get(req)
        # The last event first: the page shows it or a later one, and follows from there.
        last_event = self.workflows.store.events(workflow_id)[-1:]
        record = found(self.workflows.store.get(workflow_id), f"workflow {workflow_id}")
        after = {"after": last_event[0][0]} if last_event else None
        return self.templates.get_template("workflow.html").render(
            request=req,
            record=record,
            drawing=draw(record),
            box=(STEP_WIDTH, STEP_HEIGHT),
            events=self.make_uri("workflows", workflow_id, "events", params=after),
            ended_states=sorted(ENDED),
            retryable=record.state in RETRYABLE,
        )

    @handler
    @csrf_protect
    def act(self, req: Request, *, workflow_id: str, action: str):
        only_post(req)
        if action == "cancel":
            applied, before = self.workflows.cancel(workflow_id)
            refusal = "it has already ended"
        else:
            applied, before = self.workflows.retry(workflow_id)
            refusal = f"only {' or '.join(sorted(RETRYABLE))} workflows can be retried"
        acted(f"workflow {workflow_id}", applied, before, refusal)
        return redirect(self.make_uri("workflows", workflow_id))
