"""A worker that dies mid-job loses nothing: another worker runs the job again."""

from __future__ import annotations

import dataclasses
import os
import signal

import falcon.testing

from services.api.app import create_app
from tests.support import wait_for, worker_process


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
