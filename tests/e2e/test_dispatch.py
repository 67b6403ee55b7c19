"""Three workers of eight threads on the local stack: what runs where, and what the records say.

A job is "running" only while a thread runs it (the backlog reads "queued"),
no worker holds jobs another could start, and a worker that was paused past
the heartbeat timeout gives up, as soon as it comes back, the jobs that were
handed to another.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import datetime

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services.stack.supervisor import group_members
from tests.support import wait_for

from .conftest import RunningStack, stack_settings, start_stack

WORKERS, THREADS = 3, 8


@pytest.fixture(scope="module")
def three_workers(tmp_path_factory) -> RunningStack:
    settings = stack_settings(workers=WORKERS, worker_threads=THREADS)
    running = start_stack(tmp_path_factory.mktemp("dispatch"), settings)
    try:
        yield running
    finally:
        running.stack.stop()


def submit_batch(stack: RunningStack, count: int, **kwargs) -> list[str]:
    jobs = [{"actor": "count_slowly", "kwargs": kwargs} for _ in range(count)]
    response = stack.post("/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 202, response.text
    return [job["id"] for job in response.json()["jobs"]]


def seconds(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time).timestamp()


def records(stack: RunningStack, job_ids: list[str]) -> list[dict]:
    return [stack.job(job_id) for job_id in job_ids]


def listed(stack: RunningStack, state: str) -> set[str]:
    response = stack.get("/jobs", params={"state": state, "limit": 200})
    assert response.status_code == 200, response.text
    return {job["id"] for job in response.json()["jobs"]}


def test_thirty_two_second_jobs_start_on_every_worker_and_the_rest_read_queued(three_workers):
    stack = three_workers
    # Two seconds each: 10 steps of 0.2 s.
    job_ids = submit_batch(stack, 30, to=10, interval=0.2)

    def started() -> list[dict]:
        running = [job for job in records(stack, job_ids) if job["state"] == "running"]
        return running if len(running) == WORKERS * THREADS else []

    running = wait_for(started, timeout=10, what="every thread to start a job")
    # Each of the 24 started within a second of its submission ...
    waits = [seconds(job["started_at"]) - seconds(job["enqueued_at"]) for job in running]
    assert max(waits) < 1
    # ... eight on each worker: no worker holds what another could start.
    assert sorted(Counter(job["worker_name"] for job in running).values()) == [THREADS] * WORKERS
    # The other six wait, and say so, in the records and in the lists.
    waiting = set(job_ids) - {job["id"] for job in running}
    assert {job["state"] for job in records(stack, sorted(waiting))} == {"queued"}
    assert waiting <= listed(stack, "queued")
    assert not waiting & listed(stack, "running")

    ended = [stack.ended(job_id) for job_id in job_ids]
    assert {(job["state"], job["attempts"]) for job in ended} == {("succeeded", 1)}


def in_progress(stack: RunningStack, worker: int) -> float:
    """The jobs worker ``worker`` (from 1) runs now, as its metrics say."""
    port = stack.settings.worker_metrics_port + worker - 1
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "jobqueue_jobs_in_progress"
        for sample in family.samples
    )


def test_a_worker_paused_past_the_heartbeat_timeout_stops_what_another_took_over(three_workers):
    stack = three_workers
    # Long enough to outlast the pause, with a step every half second.
    job_ids = submit_batch(stack, 12, to=100, interval=0.5)
    wait_for(
        lambda: all(job["state"] == "running" for job in records(stack, job_ids)),
        timeout=10,
        what="the 12 jobs to start",
    )
    by_worker = Counter(job["worker_name"] for job in records(stack, job_ids))
    paused_name, held = by_worker.most_common(1)[0]
    number, leader = next(
        (number, spec.pid)
        for number in range(1, WORKERS + 1)
        for spec in [stack.stack.supervisor.processes[f"worker.{number}"]]
        if int(paused_name.rpartition(":")[2]) in group_members(spec.pid)
    )
    wait_for(lambda: in_progress(stack, number) == held, what="its metrics to count its jobs")

    os.killpg(leader, signal.SIGSTOP)
    try:
        # Presumed dead after the heartbeat timeout (10 s): the others take its jobs.
        taken_over = [
            job_id
            for job_id, job in zip(job_ids, records(stack, job_ids), strict=True)
            if job["worker_name"] == paused_name
        ]
        wait_for(
            lambda: all(
                job["attempts"] == 2 and job["state"] == "running"
                for job in records(stack, taken_over)
            ),
            timeout=20,
            what="the other workers to start the paused worker's jobs",
        )
        time.sleep(max(0.0, 20 - stack.settings.heartbeat_timeout_ms / 1000))
    finally:
        os.killpg(leader, signal.SIGCONT)
    resumed = time.monotonic()

    # Back, it learns at its next beat that they are not its own any more.
    wait_for(lambda: in_progress(stack, number) == 0, timeout=10, what="its runs to stop")
    assert time.monotonic() - resumed < 1.5
    for job in records(stack, taken_over):
        assert (job["state"], job["attempts"]) == ("running", 2)
        assert job["worker_name"] != paused_name
    assert "handed to another worker" in stack.log_path.read_text()

    for job_id in job_ids:
        assert stack.delete(f"/jobs/{job_id}").status_code == 200
