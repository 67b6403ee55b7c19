"""Limits per job, held across every worker of a real stack."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from tests.integration.test_limits import most_at_once
from tests.limited_jobs import HOGS_AT_ONCE

from ..support import wait_for
from .conftest import RunningStack, stack_settings, start_stack


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> RunningStack:
    """Two workers of four threads each, which also run the jobs of ``tests.limited_jobs``."""
    settings = stack_settings(job_modules=("actors.jobs", "tests.limited_jobs"), log_level="INFO")
    running = start_stack(tmp_path_factory.mktemp("job-limits"), settings)
    try:
        yield running
    finally:
        running.stack.stop()


def test_hogs_of_a_limited_job_leave_every_other_thread_free(limited):
    threads = limited.settings.workers * limited.settings.worker_threads
    hogs = limited.post(
        "/jobs/batch", json={"jobs": [{"actor": "hog", "args": [2]} for _ in range(threads)]}
    )
    assert hogs.status_code == 202, hogs.text
    hog_ids = [record["id"] for record in hogs.json()["jobs"]]

    def running():
        listed = limited.get("/jobs", params={"actor": "hog", "state": "running"}).json()
        return len(listed["jobs"]) == HOGS_AT_ONCE

    wait_for(running, timeout=30, what=f"{HOGS_AT_ONCE} hogs running")
    added = limited.ended(limited.submit("add", args=[1, 2]))

    assert added["state"] == "succeeded"
    # Not behind the hogs, which hold two threads and wait for nothing else.
    assert at(added, "finished_at") - at(added, "enqueued_at") < timedelta(seconds=1), added
    records = [limited.ended(job_id) for job_id in hog_ids]
    assert {record["state"] for record in records} == {"succeeded"}
    # Waiting for a slot spent no attempt (hog has no retries).
    assert {record["attempts"] for record in records} == {1}
    spans = [
        SimpleNamespace(started_at=at(record, "started_at"), finished_at=at(record, "finished_at"))
        for record in records
    ]
    assert most_at_once(spans) == HOGS_AT_ONCE
    log = limited.log_path.read_text()
    assert "Traceback" not in log and "ERROR" not in log and "skipped" not in log


def test_the_catalog_shows_the_limits(limited):
    by_name = {actor["name"]: actor for actor in limited.get("/actors").json()["actors"]}

    assert by_name["hog"]["concurrency"] == HOGS_AT_ONCE
    assert by_name["trickle"]["rate"] == "5/s"


def at(record: dict, field: str) -> datetime:
    return datetime.fromisoformat(record[field])
