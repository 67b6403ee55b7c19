"""The API's metrics: requests by route, method and status, their latency, and jobs submitted."""

from __future__ import annotations

import time
from typing import Any

import dramatiq
import falcon
from dramatiq.middleware import Middleware
from prometheus_client import Counter, Histogram

from actors.lanes import job_name
from actors.middleware.metrics import LABELS

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

    def __init__(self) -> None:
        #: Each series, looked up once: ``labels()`` costs more than the count.
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}

    async def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    async def process_response(self, req, resp, resource, req_succeeded) -> None:
        route = req.uri_template or UNMATCHED
        key = (route, req.method)
        answered = (route, req.method, resp.status_code)
        requests = self._requests.get(answered)
        if requests is None:
            requests = self._requests[answered] = REQUESTS.labels(*key, str(resp.status_code))
        durations = self._durations.get(key)
        if durations is None:
            durations = self._durations[key] = REQUEST_DURATION.labels(*key)
        requests.inc()
        durations.observe(time.perf_counter() - req.context.metrics_started)


class SubmissionMetrics(Middleware):
    """Broker middleware of the API: counts the jobs it enqueues, retries over HTTP included."""

    def __init__(self) -> None:
        #: Each actor's series, looked up once: ``labels()`` costs more than the count.
        self._submitted: dict[str, Any] = {}

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay) -> None:
        series = self._submitted.get(message.actor_name)
        if series is None:
            series = JOBS_SUBMITTED.labels(job_name(message.actor_name))
            self._submitted[message.actor_name] = series
        series.inc()


def count_submissions(broker: dramatiq.Broker) -> None:
    """Count what ``broker`` enqueues, once however many apps share it."""
    if not any(isinstance(middleware, SubmissionMetrics) for middleware in broker.middleware):
        broker.add_middleware(SubmissionMetrics())
