"""The API's metrics: requests by route, method and status, their latency, and jobs submitted."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import dramatiq
import falcon
from dramatiq.middleware import Middleware
from prometheus_client import Counter, Histogram

from actors.lanes import job_name
from actors.middleware.metrics import LABELS, observation

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

    Each change of a metric takes a lock and, in multiprocess mode, writes
    the process's file, and a request's count and time are three changes.
    The requests answered in one turn of the event loop are added up, and
    each value they change is changed once, by a callback of the next turn:
    it runs before any of their responses is written (the server writes
    those from callbacks of that turn too, made after it).
    """

    def __init__(self) -> None:
        #: The two series of each kind of answer (its count, its route's times),
        #: looked up once: ``labels()`` costs more than the count.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        #: The times of the requests answered since the metrics last changed, by series.
        self._unwritten: dict[tuple[str, str, int], list[float]] = {}

    async def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    async def process_response(self, req, resp, resource, req_succeeded) -> None:
        took = time.perf_counter() - req.context.metrics_started
        answered = (req.uri_template or UNMATCHED, req.method, resp.status_code)
        unwritten = self._unwritten.get(answered)
        if unwritten is not None:
            unwritten.append(took)
            return
        if not self._unwritten:
            asyncio.get_running_loop().call_soon(self._write)
        self._unwritten[answered] = [took]

    def _write(self) -> None:
        """Add the requests answered since the last call to their series."""
        unwritten, self._unwritten = self._unwritten, {}
        for answered, took in unwritten.items():
            series = self._series.get(answered)
            if series is None:
                route, method, status = answered
                series = self._series[answered] = (
                    REQUESTS.labels(route, method, str(status)),
                    REQUEST_DURATION.labels(route, method),
                )
            requests, durations = series
            requests.inc(len(took))
            _observe_all(durations, took)


def _observe_all(histogram: Histogram, amounts: list[float]) -> None:
    """``histogram.observe`` of each of ``amounts``, each of its values changed once."""
    if len(amounts) == 1:
        histogram.observe(amounts[0])
        return
    counts: dict[Any, float] = {}
    for amount in amounts:
        for value, added in observation(histogram, amount):
            counts[value] = counts.get(value, 0) + added
    for value, added in counts.items():
        value.inc(added)


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
