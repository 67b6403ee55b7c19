"""Enqueued through the API, run by a real worker process, seen through the API again.

What each outcome does to a job's record is tested in process
(test_job_state.py); here, that ``dramatiq services.worker`` runs the jobs.
"""

from __future__ import annotations

import re

import pytest
import redis
from dramatiq import Message

from actors.states import TERMINAL_STATES
from tests.support import settings_for, submit, wait_for, worker_process


@pytest.fixture(scope="module")
def worker_running(redis_url):
    """One real worker process for the module (stopping one takes seconds).

    Each test still starts from an empty Redis (the ``settings`` fixture
    flushes it) and waits for its own jobs to end.
    """
    with worker_process(settings_for(redis_url)) as process:
        yield process


@pytest.fixture(autouse=True)
def worker_alive(worker_running):
    yield
    assert worker_running.poll() is None, "the worker process exited"


def accepted(result) -> str:
    assert result.status_code == 202, result.text
    return result.json["id"]


def ended(client, job_id: str, timeout: float = 30) -> dict:
    def finished():
        record = client.simulate_get(f"/jobs/{job_id}").json
        return record if record["state"] in TERMINAL_STATES else None

    return wait_for(finished, timeout=timeout, what=f"job {job_id} to end")


def dead_letters(redis_url: str) -> list[Message]:
    raw = redis.Redis.from_url(redis_url).hvals("dramatiq:default.XQ.msgs")
    return [Message.decode(data) for data in raw]


def test_template_job_is_rendered_by_a_worker_and_its_result_is_visible(client, worker_running):
    page = client.simulate_get("/template", params={"name": "Ada", "title": "Invoice"})
    assert page.status_code == 202
    job_id = re.search(r'<code id="job-id">([^<]+)</code>', page.text).group(1)

    record = ended(client, job_id)

    assert record["state"] == "succeeded", record
    assert record["attempts"] == 1
    assert record["error"] is None
    assert "Dear Ada," in record["result"]["html"]
    assert "<title>Invoice</title>" in record["result"]["html"]
    assert record["started_at"] and record["finished_at"]
    assert record["started_at"] <= record["finished_at"]


def test_a_failing_job_is_retried_then_dead_lettered(client, worker_running, settings):
    job_id = accepted(submit(client, "fail", (), kwargs={"message": "boom"}))

    record = ended(client, job_id)

    # fail allows 2 retries: 3 attempts in all, then the dead-letter queue.
    assert record["state"] == "dead", record
    assert record["attempts"] == 3
    assert (record["error"]["type"], record["error"]["message"]) == ("RuntimeError", "boom")
    assert record["error"]["traceback"].endswith("RuntimeError: boom\n")
    assert record["result"] is None
    assert job_id in [message.message_id for message in dead_letters(settings.redis_url)]
