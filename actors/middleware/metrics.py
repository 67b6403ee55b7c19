"""Prometheus metrics of the jobs a worker runs: started, how each attempt ended, how long it ran.

In a dramatiq worker started through ``services.metrics.multiprocess`` these
go to prometheus-client's multiprocess files, so that one scrape covers every
process of the worker; elsewhere to the process's default registry.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from prometheus_client import Counter, Gauge, Histogram

from .. import lifecycle
from ..attempt import attempt_of
from ..lanes import job_name
from ..states import State
from .job_state import retried_or_permanent

#: The label naming a job: "job" is Prometheus' own, naming a scrape configuration.
LABELS = ["actor"]
#: What each way an attempt ends counts, by the state it leaves the job in.
ENDINGS = {
    State.SUCCEEDED: "returned",
    State.RETRYING: "failed and will be retried",
    State.FAILED: "failed with an error the job declared permanent",
    State.DEAD: "failed for the last time, or were too old to run",
    State.CANCELLED: "a user cancelled",
}

JOBS_STARTED = Counter("jobqueue_jobs_started", "Attempts of jobs started, by job.", LABELS)
#: ``jobqueue_jobs_succeeded_total``, ``..._retried_total`` and so on.
JOBS_ENDED = {
    state: Counter(
        f"jobqueue_jobs_{'retried' if state is State.RETRYING else state.value}",
        f"Attempts of jobs that {counted}, by job.",
        LABELS,
    )
    for state, counted in ENDINGS.items()
}
JOBS_IN_PROGRESS = Gauge(
    "jobqueue_jobs_in_progress",
    "Jobs running now, by job.",
    LABELS,
    # Summed over the worker's live processes; a dead one's count leaves the sum.
    multiprocess_mode="livesum",
)
JOB_DURATION = Histogram(
    "jobqueue_job_duration_seconds",
    "How long one attempt of a job ran, by job.",
    LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)

#: One series a worker process, named as the records of its jobs, its log lines
#: and the dashboard name it (``worker.1:2605``): which process a series is.
WORKER_INFO = Gauge(
    "jobqueue_worker_info",
    "1 for each worker process that runs, labelled with its name (worker.1:2605).",
    ["worker"],
    multiprocess_mode="liveall",
)


class Metrics(Middleware):
    """Counts and times every attempt, by job (a lane's actor counts as its job).

    Goes after ``JobState`` and before ``Retries``: a message JobState skips
    (a cancelled job) never counts as started, and when the after_* hooks run
    (in reverse order) Retries has already decided whether the job is retried.
    """

    def __init__(self) -> None:
        # A worker thread runs one message from before_ to after_process_message.
        self._attempt = threading.local()
        self._series: dict[str, _JobSeries] = {}

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        WORKER_INFO.labels(broker.worker_name).set(1)

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        series = self._of(message.actor_name)
        series.started.inc()
        series.in_progress.inc()
        self._attempt.started = time.perf_counter()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = getattr(self._attempt, "started", None)
        if started is None:
            # Another middleware refused the message before this one saw it.
            return
        self._attempt.started = None
        series = self._of(message.actor_name)
        series.duration.observe(time.perf_counter() - started)
        series.in_progress.dec()
        if attempt_of(message).lost:
            return  # interrupted: its job is another worker's now
        state = lifecycle.ended_in(
            exception=exception, **retried_or_permanent(broker, message, exception)
        )
        series.ended(state).inc()

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        if message.failed:
            # Skipped and failed: AgeLimit found the message too old to run.
            self._of(message.actor_name).ended(State.DEAD).inc()

    def _of(self, actor_name: str) -> _JobSeries:
        series = self._series.get(actor_name)
        if series is None:
            series = self._series[actor_name] = _JobSeries(job_name(actor_name))
        return series


class _JobSeries:
    """One job's series, looked up once: a ``labels()`` call costs more than the update."""

    def __init__(self, job: str):
        self.job = job
        self.started = JOBS_STARTED.labels(job)
        self.in_progress = JOBS_IN_PROGRESS.labels(job)
        self.duration = JOB_DURATION.labels(job)
        # Made when a job first ends so: an ending no job had is not shown as 0.
        self._ended: dict[State, Any] = {}

    def ended(self, state: State):
        counter = self._ended.get(state)
        if counter is None:
            counter = self._ended[state] = JOBS_ENDED[state].labels(self.job)
        return counter
