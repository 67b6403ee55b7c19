"""The API: an app factory that wires settings, the queue and the resources.

An ASGI app: every responder is a coroutine, and the job store runs on a
``redis.asyncio`` client (one connection pool per process), so a request
waiting on Redis, or following a job for minutes, holds no thread.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import falcon
import falcon.asgi

import actors
from actors.connection import async_client
from actors.schedules.operations import Schedules
from actors.store import JobStore
from actors.workflows import Workflows
from services import __version__
from services.metrics.api import RequestMetrics, count_submissions
from services.settings import Settings

from . import contract, errors, media, models, openapi
from .auth import ApiKeys
from .middleware import AccessLog, InstanceHeader, Request, RequestSizeLimit
from .pages import environment
from .resources.catalog import Catalog
from .resources.events import JobEvents
from .resources.job import JobItem, JobRetry
from .resources.jobs import JobBatch, JobCollection
from .resources.root import Hello, Liveness, Readiness
from .resources.schedules import ScheduleAction, ScheduleCollection, ScheduleItem
from .resources.template import Template
from .resources.workflows import WorkflowCollection, WorkflowEvents, WorkflowItem, WorkflowRetry
from .streams import Streams
from .submissions import Submissions

#: Connections to Redis an API process opens at most (and the subscription streams share).
API_REDIS_CONNECTIONS = 32
#: How long a request waits for one of them before it is answered 503.
API_REDIS_WAIT_SECONDS = 5


def create_app(settings: Settings, queue: actors.Queue | None = None) -> falcon.asgi.App:
    """Build the ASGI app. ``queue`` defaults to one connected as ``settings`` say.

    The app reads and writes jobs through ``queue``'s broker and jobs, with
    its store on an asyncio client of the app's own.
    """
    queue = on_asyncio(queue or actors.connect(settings.queue_config()), settings)
    keys = ApiKeys(settings.api_keys, for_reads=settings.api_keys_for_reads)
    app = falcon.asgi.App(
        request_type=Request,
        middleware=[
            RequestMetrics(),
            AccessLog(settings.instance_name),
            InstanceHeader(settings.instance_name),
            # Without keys it holds no request: left out, not asked by every one.
            *([keys] if keys.keys else []),
            RequestSizeLimit(settings.max_request_bytes),
        ],
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.media_handlers[falcon.MEDIA_JSON] = media.handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = media.handler
    errors.install(app)

    pages = environment(Path(__file__).with_name("templates"))
    streams = Streams(queue.store, settings.stream_slots)
    submissions = Submissions(queue)
    # The jobs clients may submit: those of the queue given, whatever else is declared.
    public_jobs = {name: spec for name, spec in queue.specs.items() if spec.public}
    submission = models.submission(public_jobs, settings.max_time_limit_seconds)
    schedules = Schedules(queue)
    schedule_body = models.schedule(submission)
    document = openapi.OpenAPIDocument()
    workflows = Workflows.of(queue)
    routes = [
        ("/", Hello()),
        ("/healthz", Liveness()),
        ("/readyz", Readiness(queue.store)),
        ("/template", Template(submissions, pages)),
        ("/actors", Catalog(public_jobs, queue.defaults)),
        ("/jobs", JobCollection(queue, submissions, submission)),
        ("/jobs/batch", JobBatch(queue, submission)),
        ("/jobs/{job_id}", JobItem(queue, streams, settings.max_wait_seconds)),
        ("/jobs/{job_id}/retry", JobRetry(queue)),
        ("/jobs/{job_id}/events", JobEvents(queue, streams, settings.stream_seconds)),
        ("/schedules", ScheduleCollection(schedules, schedule_body)),
        ("/schedules/{name}", ScheduleItem(schedules, schedule_body)),
        *(
            (f"/schedules/{{name}}/{action}", ScheduleAction(schedules, action))
            for action in ScheduleAction.SUMMARIES
        ),
        ("/workflows", WorkflowCollection(workflows)),
        ("/workflows/{workflow_id}", WorkflowItem(workflows)),
        ("/workflows/{workflow_id}/retry", WorkflowRetry(workflows)),
        (
            "/workflows/{workflow_id}/events",
            WorkflowEvents(workflows, streams, settings.stream_seconds),
        ),
        ("/openapi.json", document),
    ]
    for path, resource in routes:
        contract.answer_head(resource)
        app.add_route(path, resource)
    count_submissions(queue.broker)
    document.document = openapi.build(
        routes, title="Job queue", version=__version__, needs_key=keys.needs_key
    )
    return app


def on_asyncio(queue: actors.Queue, settings: Settings) -> actors.Queue:
    """``queue`` with its store on a ``redis.asyncio`` client: the API's, one pool per process.

    The broker only prepares messages there (the store writes them), so it
    keeps its blocking client, which never connects.
    """
    store = JobStore(
        async_client(
            settings.redis_config(),
            max_connections=API_REDIS_CONNECTIONS,
            wait_seconds=API_REDIS_WAIT_SECONDS,
        ),
        retention_seconds=queue.store.retention_seconds,
        namespace=queue.store.keys.namespace,
        confirmation=queue.store.confirmation,
    )
    return dataclasses.replace(queue, store=store)
