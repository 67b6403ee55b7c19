"""The dashboard app: dramatiq-dashboard under /admin, behind HTTP basic auth.

It answers at the same paths on its own port as through Traefik, which
forwards /admin unchanged: ``http://localhost:8082/admin/`` works as the
load balancer's ``/admin/`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dramatiq_dashboard import DashboardApp

import actors
from actors.schedules.operations import Schedules
from actors.workflows import Workflows
from services.metrics.queues import with_queue_metrics
from services.metrics.workflows import WorkflowCollector
from services.settings import Settings

from . import pages
from .auth import BasicAuth, WSGIApp
from .dead_letters import DeadLetters
from .guard import Guard, problem
from .jobs import JobPages, event_streams
from .overview import OverviewPages
from .schedules import SchedulePages
from .workflows import WorkflowPages, workflow_event_streams

#: Where the dashboard lives, on its own port and behind Traefik.
PREFIX = "/admin"
#: What the health checks of Traefik, compose and the local stack ask for.
HEALTH_PATH = "/healthz"


class Mount:
    """Serve ``app`` under ``prefix``, with the prefix moved to ``SCRIPT_NAME``.

    ``/`` and the bare prefix redirect to the prefix with a slash (old
    bookmarks of the dashboard's port, and the seed's ``/admin``); any other
    path outside the prefix is 404.
    """

    def __init__(self, app: WSGIApp, prefix: str):
        self.app = app
        self.prefix = prefix

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("", "/", self.prefix):
            query = environ.get("QUERY_STRING", "")
            location = f"{self.prefix}/" + (f"?{query}" if query else "")
            start_response(
                "301 Moved Permanently",
                [("Location", location), ("Content-Type", "text/plain")],
            )
            return [f"moved to {location}".encode()]
        if not path.startswith(f"{self.prefix}/"):
            return problem(start_response, "404 Not Found", f"the dashboard is at {self.prefix}/")
        inner = {
            **environ,
            "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + self.prefix,
            "PATH_INFO": path.removeprefix(self.prefix),
        }
        return self.app(inner, start_response)


def health_checked(app: WSGIApp) -> WSGIApp:
    """``app``, with ``/healthz`` answered ahead of it (and of its auth)."""

    def serve(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return app(environ, start_response)

    return serve


def create_app(settings: Settings, queue: actors.Queue | None = None) -> WSGIApp:
    """dramatiq-dashboard and the dead-letter, job, schedule and workflow pages at /admin/.

    Behind auth. ``queue`` defaults to one connected as ``settings`` say.
    """
    queue = queue or actors.connect(settings.queue_config())
    workflows = Workflows.of(queue)
    dashboard = DashboardApp(queue.broker, prefix=PREFIX)
    pages.extend_templates(dashboard)
    dead_letters = pages.DeadLetterPages(dashboard, DeadLetters(queue))
    jobs = JobPages(dead_letters, dashboard, queue, event_streams(queue, settings.stream_seconds))
    schedules = SchedulePages(jobs, dashboard, Schedules(queue))
    workflow_pages = WorkflowPages(
        schedules,
        dashboard,
        workflows,
        workflow_event_streams(workflows, settings.stream_seconds),
    )
    admin = OverviewPages(workflow_pages, dashboard, queue)
    app = health_checked(
        BasicAuth(
            Mount(Guard(admin), PREFIX),
            user=settings.admin_user,
            password=settings.admin_password,
        )
    )
    return with_queue_metrics(app, queue.broker, WorkflowCollector(workflows.store))
