"""The console's figures, counted by the writes that end jobs, in a worker on a real Redis."""

from __future__ import annotations

import time

from actors import lifecycle
from actors.states import State
from actors.stats import SPAN, Stats
from tests.support import ended, run_job


def test_ends_are_counted_by_state_with_how_long_they_ran(queue, worker):
    jobs = [run_job(queue, "add", n, 1) for n in range(4)]
    jobs.append(run_job(queue, "fail", permanent=True))
    jobs.append(run_job(queue, "count_slowly", to=2, interval=0.3))
    for job_id in jobs:
        ended(queue, job_id)
    waiting = run_job(queue, "add", 1, 1, options={"delay": 600})
    queue.store.write(waiting, lifecycle.cancel())

    figures = Stats(queue.store.client, queue.store.keys).last_hour()

    assert sum(figures[State.SUCCEEDED]) * SPAN == 5
    assert sum(figures[State.FAILED]) * SPAN == 1
    slowest = max(filter(None, figures["run_time"]["p99"]))
    # count_slowly ran 0.6 s: its slot's upper end is within a factor of sqrt(2).
    assert 0.6 <= slowest <= 0.6 * 2**0.5


def test_the_queues_sampled_are_kept_beside_the_counts(queue):
    stats = Stats(queue.store.client, queue.store.keys)
    now = time.time()

    stats.sample_queues(7, 12.5, now)

    figures = stats.last_hour(now)
    assert (figures["depth"][-1], figures["oldest"][-1]) == (7, 12.5)
    assert figures["depth"][0] is None
    assert len(figures["times"]) == 3600 // SPAN
