"""The dashboard app: dramatiq-dashboard and the console's pages under /admin, behind basic auth.

It answers at the same paths on its own port as through Traefik, which
forwards /admin unchanged: ``http://localhost:8082/admin/`` works as the
load balancer's ``/admin/`` does.

One request goes through :class:`Dashboard` in order: the health check and
the metrics (neither behind auth), the credentials, the prefix, the guard's
checks of every input, then one routing table: the event streams (the API's
own Falcon resources), the console's pages, and dramatiq-dashboard's pages
for every other path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dramatiq_dashboard import DashboardApp
from dramatiq_dashboard.http import App, Request

import actors
from actors.schedules.operations import Schedules
from actors.workflows import Workflows
from services.metrics.queues import METRICS_PATH, queue_metrics
from services.metrics.workflows import WorkflowCollector
from services.settings import Settings

from . import pages
from .auth import BasicAuth, WSGIApp
from .dead_letters import DeadLetters
from .guard import guarded
from .jobs import JobPages
from .overview import OverviewPages
from .problems import Problems
from .schedules import SchedulePages
from .streams import EVENTS_PATH, event_streams, resumed
from .workflows import WorkflowPages

#: Where the dashboard lives, on its own port and behind Traefik.
PREFIX = "/admin"
#: What the health checks of Traefik, compose and the local stack ask for.
HEALTH_PATH = "/healthz"
#: The pages of our own run no script but their own files, and show what users
#: submitted: nothing else may run. dramatiq-dashboard's look is inline CSS.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class Console(App):
    """One routing table: each page's routes, then dramatiq-dashboard for any other path.

    A page with ``policy`` set answers with the Content-Security-Policy.
    """

    def __init__(self, dashboard: DashboardApp, *pages):
        super().__init__()
        self.dashboard = dashboard
        for page in pages:
            for pattern, serve in page.routes:
                self.add_route(pattern, with_policy(serve) if page.policy else serve)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        # App answers None when none of its routes matches the path.
        response = super().__call__(environ, start_response)
        return self.dashboard(environ, start_response) if response is None else response


def with_policy(serve: Callable) -> Callable:
    """``serve`` (a route's handler), its answer sent with the pages' Content-Security-Policy."""

    def serve_with_policy(req: Request, start_response: Callable, **params):
        def start(status: str, headers: list, *args):
            policy = ("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            return start_response(status, [*headers, policy], *args)

        return serve(req, start, **params)

    return serve_with_policy


class Dashboard:
    """The WSGI app: health and metrics, then auth, the prefix, the checks, and the routes."""

    def __init__(
        self,
        console: WSGIApp,
        streams: WSGIApp,
        metrics: WSGIApp,
        auth: BasicAuth,
        problems: Problems,
    ):
        self.console, self.streams, self.metrics, self.auth = console, streams, metrics, auth
        self.problems = problems

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        if path == METRICS_PATH:
            return self.metrics(environ, start_response)
        if not self.auth.allows(environ):
            return self.auth.challenge(start_response)
        if path in ("", "/", PREFIX):
            # Old bookmarks of the dashboard's port, and /admin without its slash.
            query = environ.get("QUERY_STRING", "")
            location = f"{PREFIX}/" + (f"?{query}" if query else "")
            start_response(
                "301 Moved Permanently", [("Location", location), ("Content-Type", "text/plain")]
            )
            return [f"moved to {location}".encode()]
        if not path.startswith(f"{PREFIX}/"):
            return self.problems.answer(
                environ, start_response, "404 Not Found", f"the dashboard is at {PREFIX}/"
            )
        inner = {
            **environ,
            "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + PREFIX,
            "PATH_INFO": path.removeprefix(PREFIX),
        }
        return guarded(self._route, inner, start_response, self.problems)

    def _route(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if EVENTS_PATH.fullmatch(environ["PATH_INFO"]):
            return self.streams(resumed(environ), start_response)
        return self.console(environ, start_response)


def create_app(settings: Settings, queue: actors.Queue | None = None) -> WSGIApp:
    """dramatiq-dashboard and the dead-letter, job, schedule and workflow pages at /admin/.

    Behind auth. ``queue`` defaults to one connected as ``settings`` say.
    """
    queue = queue or actors.connect(settings.queue_config())
    workflows = Workflows.of(queue)
    dashboard = DashboardApp(queue.broker, prefix=PREFIX)
    pages.extend_templates(dashboard)
    console = Console(
        dashboard,
        pages.DeadLetterPages(dashboard, DeadLetters(queue)),
        pages.QueuePages(dashboard),
        JobPages(dashboard, queue),
        SchedulePages(dashboard, Schedules(queue)),
        WorkflowPages(dashboard, workflows),
        OverviewPages(queue),
    )
    return Dashboard(
        console,
        event_streams(queue, workflows, settings.stream_seconds),
        queue_metrics(queue.broker, WorkflowCollector(workflows.store)),
        BasicAuth(user=settings.admin_user, password=settings.admin_password),
        Problems(dashboard.templates, [("Content-Security-Policy", CONTENT_SECURITY_POLICY)]),
    )
