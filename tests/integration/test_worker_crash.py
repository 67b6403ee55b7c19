"""A worker that dies mid-job loses nothing: another worker runs the job again."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from datetime import datetime

import falcon.testing

from services.api.app import create_app
from tests.support import ended, run_job, wait_for, worker_process


def test_a_job_whose_worker_is_killed_runs_again_on_another_worker(settings, queue):
    # A short heartbeat timeout, so that the dead worker is noticed within the test.
    settings = dataclasses.replace(settings, heartbeat_timeout_ms=2000)
    client = falcon.testing.TestClient(create_app(settings, queue))
    job_id = client.simulate_post(
        "/jobs", json={"actor": "count_slowly", "kwargs": {"to": 4, "interval": 0.5}}
    ).json["id"]

    def state() -> str:
        return client.simulate_get(f"/jobs/{job_id}").json["state"]

    with worker_process(settings, threads=1) as doomed:
        wait_for(lambda: state() == "running", timeout=30, what="the first worker to start it")
        # As a crash would: no chance to finish or to hand the message back.
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()

    with worker_process(settings, threads=1):
        record = client.simulate_get(f"/jobs/{job_id}", params={"wait": 60}).json
        assert record["state"] == "succeeded", record
        assert record["result"] == 4
        # Started twice (each start counts an attempt): once by the worker that
        # died, once by the one that finished it.
        assert record["attempts"] == 2


def test_a_paused_worker_that_comes_back_stops_the_jobs_handed_to_another(
    settings, queue, tmp_path
):
    """A pause past the heartbeat timeout (SIGSTOP, a frozen VM): no job runs twice at once."""
    settings = dataclasses.replace(settings, heartbeat_timeout_ms=2000)
    jobs = [run_job(queue, "count_slowly", to=60, interval=0.1) for _ in range(2)]
    log_path = tmp_path / "paused.log"

    with log_path.open("w") as log, worker_process(settings, threads=2, log=log) as paused:
        wait_for(
            lambda: all(queue.store.get(job_id).state == "running" for job_id in jobs),
            timeout=30,
            what="the first worker to start both jobs",
        )
        paused_name = queue.store.get(jobs[0]).worker_name
        os.killpg(paused.pid, signal.SIGSTOP)
        with worker_process(settings, threads=2):
            wait_for(
                lambda: all(queue.store.get(job_id).attempts == 2 for job_id in jobs),
                timeout=15,
                what="the other worker to take the jobs over",
            )
            os.killpg(paused.pid, signal.SIGCONT)
            resumed = time.time()
            records = [ended(queue, job_id) for job_id in jobs]

    # The paused worker gave both runs up as soon as it came back.
    given_up = [
        _logged_at(line)
        for line in log_path.read_text().splitlines()
        if "handed to another" in line
    ]
    assert len(given_up) == 2, log_path.read_text()
    assert all(at - resumed < 1.5 for at in given_up)
    # And only the other worker's runs were recorded.
    assert {(record.state, record.attempts, record.result) for record in records} == {
        ("succeeded", 2, 60)
    }
    assert paused_name not in {record.worker_name for record in records}


def _logged_at(line: str) -> float:
    """When dramatiq's log line was written (its ``[YYYY-MM-DD HH:MM:SS,mmm]`` prefix)."""
    stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()
