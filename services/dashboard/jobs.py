"""Job pages: the job records, one job's record, and its Cancel and Retry buttons.

dramatiq-dashboard shows messages; these show what the job store keeps of
each job (its state, attempts, progress, result or error), in the
dashboard's look and behind its credentials. Cancel and Retry are the
operations the HTTP API runs (``actors.submission``), protected by the
dashboard's CSRF cookie. A job's page follows the job live over the API's own
event-stream resource, served here too (see ``streams.py``), so that
it works alike on the dashboard's port and through the load balancer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dramatiq.common import q_name
from dramatiq_dashboard import DashboardApp
from dramatiq_dashboard.application import tab_from_q_name
from dramatiq_dashboard.csrf import csrf_protect
from dramatiq_dashboard.http import Request, Response, handler, redirect
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actors import Queue, lifecycle
from actors.record import JobRecord
from actors.states import TERMINAL_STATES, State
from actors.storage.queues import QueueReadings
from actors.submission import retry
from services.api.models import RunOptions, iso

from .guard import BadRequest, acted, found, only_get, only_post

#: Records per page of the list.
PAGE_SIZE = 50
#: The script of the job pages, served as a file so that pages need no inline script.
SCRIPT = Path(__file__).with_name("static").joinpath("jobs.js").read_bytes()
#: The states a job may be retried from, as the lifecycle decides.
RETRYABLE = lifecycle.retry().allowed_from


class JobFilter(BaseModel):
    """The query of the jobs page: which records, from where in the list."""

    model_config = ConfigDict(extra="forbid")

    state: State | None = None
    actor: str | None = Field(None, max_length=200)
    #: A job to show: the search by id.
    id: str | None = Field(None, max_length=200)
    #: A stream id, as the guard has checked (``services.api.models.stream_id``).
    cursor: str | None = None

    @classmethod
    def of(cls, params: dict[str, str]) -> JobFilter:
        """The filter a query string asks for; an empty field filters nothing."""
        try:
            return cls.model_validate({name: value for name, value in params.items() if value})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
            raise BadRequest(f"the query is not valid: {problems}") from None

    def page(self, cursor: str | None) -> dict[str, str]:
        """The query string of the page at ``cursor``, with the same filters."""
        filters = self.model_dump(exclude_none=True, exclude={"cursor"})
        return filters | {"cursor": cursor} if cursor else filters


def from_ms(ms: int | None) -> datetime | None:
    """A record's time as the naive UTC datetime dramatiq-dashboard's filters take."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def as_json(value: Any) -> str:
    """``value`` as indented JSON text, for the page to escape like any other text."""
    return json.dumps(value, indent=2, ensure_ascii=False)


class JobPages:
    """Job pages.

    ``/jobs``: the records, newest first, filtered by state and actor.
    ``/jobs/<id>``: one record. ``/jobs/<id>/cancel`` and ``/retry``: POST
    does it, then shows the job. (``/jobs/<id>/events``, its event stream, is
    the API's resource: see ``streams.py``.)
    """

    #: They run no script but their own file: the Content-Security-Policy forbids any other.
    policy = True

    def __init__(self, dashboard: DashboardApp, queue: Queue):
        self.queue = queue
        self.templates = dashboard.templates
        self.templates.filters.update(from_ms=from_ms, iso=iso, as_json=as_json)
        self.make_uri = dashboard.make_uri
        self.routes = [
            ("/jobs", self.index),
            ("/jobs/jobs.js", self.script),
            (r"/jobs/(?P<job_id>[^/]+)", self.job),
            (r"/jobs/(?P<job_id>[^/]+)/(?P<action>cancel|retry)", self.act),
        ]

    @handler
    def index(self, req: Request):
        only_get(req)
        query = JobFilter.of(req.params)
        if query.id:
            return redirect(self.make_uri("jobs", quote(query.id.strip(), safe="")))
        records, cursor = self.queue.store.list(
            state=query.state, actor=query.actor, cursor=query.cursor, limit=PAGE_SIZE
        )
        return self.templates.get_template("jobs.html").render(
            request=req,
            records=records,
            query=query,
            next_page=query.page(cursor) if cursor else None,
            states=list(State),
            actors=sorted(self.queue.specs),
        )

    @handler
    def script(self, req: Request):
        only_get(req)
        return Response(
            headers=[("Content-Type", "text/javascript; charset=utf-8")],
            content=SCRIPT,
        )

    @handler
    @csrf_protect
    def job(self, req: Request, *, job_id: str):
        only_get(req)
        # The last event first: the record then shows it, or a later one, and
        # the page follows from there instead of replaying the job's history.
        last_event = self.queue.store.last_event_id(job_id)
        record = found(self.queue.store.get(job_id), f"job {job_id}")
        follow_from = {"after": last_event} if last_event else None
        return self.templates.get_template("job_record.html").render(
            request=req,
            record=record,
            options=RunOptions.of(record, self.queue),
            events=self.make_uri("jobs", job_id, "events", params=follow_from),
            message_page=self._message_page(record),
            duration=_duration(record),
            retryable=record.state in RETRYABLE,
            terminal_states=sorted(TERMINAL_STATES),
        )

    @handler
    @csrf_protect
    def act(self, req: Request, *, job_id: str, action: str):
        only_post(req)
        if action == "cancel":
            applied, before, _attempt = self.queue.store.write(job_id, lifecycle.cancel())
            refusal = "it has already ended"
        else:
            applied, before, _record = retry(self.queue, job_id)
            refusal = f"only {' or '.join(sorted(RETRYABLE))} jobs can be retried"
        acted(f"job {job_id}", applied, before, refusal)
        return redirect(self.make_uri("jobs", job_id))

    def _message_page(self, record: JobRecord) -> str | None:
        """dramatiq-dashboard's page of the job's message, while the broker holds it."""
        if not (record.queue and record.redis_message_id):
            return None
        broker = self.queue.broker
        readings = QueueReadings(broker.client, broker.keys)
        holder = readings.holder(record.queue, record.redis_message_id)
        if holder is None:
            return None
        return self.make_uri(
            "queues", q_name(record.queue), tab_from_q_name(holder), record.redis_message_id
        )


def _duration(record: JobRecord) -> str | None:
    """How long the job's last attempt ran, once it has ended."""
    if record.started_at is None or record.finished_at is None:
        return None
    seconds = max(record.finished_at - record.started_at, 0) / 1000
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.3f} s"
