"""Prometheus metrics of the jobs a worker runs: started, how each attempt ended, how long it ran.

In a dramatiq worker started through ``services.metrics.multiprocess`` these
go to prometheus-client's multiprocess files, so that one scrape covers every
process of the worker; elsewhere to the process's default registry.
"""

from __future__ import annotations

import bisect
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


#: Longest a count waits to be written to the process's metrics when no settle comes sooner.
WRITE_SECONDS = 0.1


class Metrics(Middleware):
    """Counts and times every attempt, by job (a lane's actor counts as its job).

    Goes after ``JobState`` and before ``Retries``: a message JobState skips
    (a cancelled job) never counts as started, and when the after_* hooks run
    (in reverse order) Retries has already decided whether the job is retried.

    A job's counts are written many jobs at once (see :class:`Tally`), each
    at the latest ``WRITE_SECONDS`` after it was made, and those of a job's
    end before the settle that writes that end to its record (the broker's
    ``before_settle``): a client that reads a job's end reads metrics that
    count it.
    """

    def __init__(self) -> None:
        # A worker thread runs one message from before_ to after_process_message.
        self._attempt = threading.local()
        self._series: dict[str, _JobSeries] = {}
        self._tally = Tally()
        self._stopping = threading.Event()

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._tally.write not in broker.before_settle:
            broker.before_settle.append(self._tally.write)

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        WORKER_INFO.labels(broker.worker_name).set(1)
        self._stopping = threading.Event()
        threading.Thread(
            target=self._write_often, args=(self._stopping,), name="metrics", daemon=True
        ).start()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stopping.set()
        self._tally.write()

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        series = self._of(message.actor_name)
        self._tally.add((series.started, 1), (series.in_progress, 1))
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
        duration = time.perf_counter() - started
        if attempt_of(message).lost:
            # Interrupted: its job is another worker's now.
            self._tally.add((series.in_progress, -1), timed=(series.duration, duration))
            return
        state = lifecycle.ended_in(
            exception=exception, **retried_or_permanent(broker, message, exception)
        )
        self._tally.add(
            (series.in_progress, -1), (series.ended(state), 1), timed=(series.duration, duration)
        )

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        if message.failed:
            # Skipped and failed: AgeLimit found the message too old to run.
            self._tally.add((self._of(message.actor_name).ended(State.DEAD), 1))

    def _of(self, actor_name: str) -> _JobSeries:
        series = self._series.get(actor_name)
        if series is None:
            series = self._series[actor_name] = _JobSeries(job_name(actor_name))
        return series

    def _write_often(self, stopping: threading.Event) -> None:
        while not stopping.wait(WRITE_SECONDS):
            self._tally.write()


class Tally:
    """Changes of metrics not yet written, written together.

    Each write of a metric takes prometheus-client's lock and, in a worker's
    multiprocess mode, checks the process id (a system call) and writes the
    metric's file: six of them a job cost more than anything else its
    middleware does. Added up here, the counts of all the jobs since the
    last :meth:`write` are one write a metric; an observation of a
    histogram is two counts, its sum's and its bucket's, added up likewise.
    When :meth:`write` returns, everything added before it was called is
    written, whichever thread wrote it.
    """

    def __init__(self) -> None:
        self._changed = threading.Lock()
        self._writing = threading.Lock()
        #: By counter, gauge or histogram's value (of a labelled child), how much to add.
        self._counts: dict[Any, float] = {}

    def add(self, *counts: tuple[Any, float], timed: tuple[Any, float] | None = None) -> None:
        """Add each (metric, amount) of ``counts``, and observe ``timed`` (histogram, seconds)."""
        if timed is not None:
            counts = (*counts, *observation(*timed))
        with self._changed:
            pending = self._counts
            for metric, amount in counts:
                pending[metric] = pending.get(metric, 0) + amount

    def write(self) -> None:
        """Write what was added so far to the metrics."""
        with self._writing:
            with self._changed:
                counts, self._counts = self._counts, {}
            for metric, amount in counts.items():
                if amount:
                    metric.inc(amount)


def observation(histogram: Histogram, value: float) -> tuple[tuple[Any, float], ...]:
    """What ``histogram.observe(value)`` adds, as counts: ``value`` to its sum, 1 to its bucket.

    prometheus-client keeps a histogram's sum and each bucket's own count
    (not the cumulative one it exposes) as values of its own, which is what
    its ``observe`` adds to.
    """
    bucket = bisect.bisect_left(histogram._upper_bounds, value)
    return (histogram._sum, value), (histogram._buckets[bucket], 1)


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
