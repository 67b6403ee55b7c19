"""Priority lanes, in an in-process worker on a real Redis."""

from __future__ import annotations

import dramatiq

from actors.job_request import JobOptions, JobRequest
from actors.states import State
from actors.submission import submit
from tests.support import wait_for


def test_a_free_worker_thread_takes_high_before_normal_before_low(queue):
    # One thread, busy with a job, while a job waits in every lane: when the
    # thread frees up, the lanes are served most urgent first, whatever the
    # order they were submitted in.
    def count(interval: float, priority: str = "normal") -> str:
        request = JobRequest(
            actor="count_slowly",
            kwargs={"to": 1, "interval": interval},
            options=JobOptions(priority=priority),
        )
        return submit(queue, request)[1].id

    busy = count(1)
    worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: queue.store.get(busy).state is State.RUNNING, what="the busy job")
        lanes = {count(0.05, priority): priority for priority in ("low", "normal", "high")}

        def ended():
            found = [queue.store.get(job_id) for job_id in lanes]
            return found if all(record.ended for record in found) else None

        records = wait_for(ended, timeout=30, what="every lane's job to end")
    finally:
        worker.stop()
    assert {record.state for record in records} == {State.SUCCEEDED}
    records.sort(key=lambda record: record.started_at)
    assert [lanes[record.id] for record in records] == ["high", "normal", "low"]
