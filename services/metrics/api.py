"""The API's metrics: requests by route, method and status, their latency, and jobs submitted."""

from __future__ import annotations

import time

import dramatiq
import falcon
from dramatiq.middleware import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from actors.lanes import job_name
from actors.middleware.metrics import LABELS

from ..api.contract import Access, Operation, Response
from .multiprocess import registry

REQUESTS = Counter(
    "jobqueue_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
REQUEST_DURATION = Histogram(
    "jobqueue_http_request_duration_seconds",
    "Time until a response starts, by route template and method.",
    ["route", "method"],
)
JOBS_SUBMITTED = Counter(
    "jobqueue_jobs_submitted", "Jobs the API sent to the queue, by job.", LABELS
)

#: The route of requests that matched none (404s, whatever their path).
UNMATCHED = "unmatched"


class RequestMetrics:
    """Falcon middleware: counts and times each request by its route's template.

    The template (``/jobs/{job_id}``), never the path: a path per job would
    make a time series per job. An event stream counts until it starts.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        route = req.uri_template or UNMATCHED
        REQUESTS.labels(route, req.method, str(resp.status_code)).inc()
        REQUEST_DURATION.labels(route, req.method).observe(
            time.perf_counter() - req.context.metrics_started
        )


class SubmissionMetrics(Middleware):
    """Broker middleware of the API: counts the jobs it enqueues, retries over HTTP included."""

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay) -> None:
        JOBS_SUBMITTED.labels(job_name(message.actor_name)).inc()


def count_submissions(broker: dramatiq.Broker) -> None:
    """Count what ``broker`` enqueues, once however many apps share it."""
    if not any(isinstance(middleware, SubmissionMetrics) for middleware in broker.middleware):
        broker.add_middleware(SubmissionMetrics())


class MetricsEndpoint:
    """``/metrics``: every process of this instance, for a scraper at the instance's address.

    Never through the load balancer: its routes leave ``/metrics`` out
    (``traefik/local/routes.yml.j2``, the api labels of ``compose.yml``), and
    the instances' own ports listen on loopback only.
    """

    operations = {
        "get": Operation(
            "Prometheus metrics of every process of this instance",
            responses={
                200: Response(
                    "The metrics, in Prometheus' text format",
                    media_type="text/plain",
                    schema={"type": "string"},
                ),
            },
            # Prometheus scrapes without a key; the instance's own port is on loopback.
            access=Access.OPEN,
        )
    }

    def __init__(self) -> None:
        # Built once: a multiprocess collector reads the files anew on each scrape.
        self.registry = registry()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(self.registry)
