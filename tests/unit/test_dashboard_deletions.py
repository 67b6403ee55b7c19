"""The dashboard's Delete button keeps the job records true, against a real Redis."""

from __future__ import annotations

import dataclasses
import re

from actors import lifecycle
from actors.job_request import JobOptions, JobRequest
from actors.states import State
from actors.submission import submit

from .test_dashboard_dead_letters import confirm, dead, waiting
from .test_dashboard_dead_letters import submit as post_form


def delete_form(page: str) -> tuple[str, dict[str, str]]:
    form = re.search(r'<form action="([^"]*delete-message)" method="POST">(.*?)</form>', page, re.S)
    assert form, "the page has no Delete button"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[2])
    return form[1], dict(fields)


def press_delete(admin, tab: str):
    """Open a tab of the default queue and press its (first) Delete button."""
    page = admin.simulate_get(f"/admin/queues/default/{tab}")
    return post_form(admin, page, *delete_form(page.text))


def add(queue, **options) -> str:
    request = JobRequest(actor="add", args=[1, 2], options=JobOptions(**options))
    return submit(queue, request)[1].id


def test_deleting_a_queued_message_cancels_its_job(admin, queue):
    job_id = add(queue)

    result = press_delete(admin, "standard")

    assert result.status_code == 302
    assert result.headers["Location"] == "/admin/queues/default/standard"
    assert waiting(queue) == []
    record = queue.store.get(job_id)
    assert record.state is State.CANCELLED
    assert record.finished_at is not None


def test_deleting_a_delayed_message_cancels_its_job(admin, queue):
    job_id = add(queue, delay=60)
    assert queue.store.get(job_id).state is State.DELAYED

    result = press_delete(admin, "delayed")

    assert result.headers["Location"] == "/admin/queues/default/delayed"
    assert queue.broker.client.hlen("dramatiq:default.DQ.msgs") == 0
    assert queue.store.get(job_id).state is State.CANCELLED


def fetch_and_nack(queue, *, ending: lifecycle.Transition | None) -> None:
    """Fetch and start the waiting message as a worker does; dead-letter it, writing ``ending``."""
    consumer = queue.broker.consume("default", prefetch=1, timeout=100)
    try:
        message = next(message for message in consumer if message is not None)
        attempt = message.attempt
        queue.store.write(message.message_id, lifecycle.start(attempt.number))
        attempt.ending = ending and dataclasses.replace(ending, attempt=attempt.number)
        consumer.nack(message)
    finally:
        consumer.close()


def test_deleting_the_dead_letter_of_a_job_whose_end_was_lost_marks_it_dead(admin, queue):
    job_id = add(queue)
    # The worker took it, and its end never reached the record.
    fetch_and_nack(queue, ending=None)
    assert queue.store.get(job_id).state is State.RUNNING
    assert len(dead(queue)) == 1

    result = press_delete(admin, "failed")

    assert result.headers["Location"] == "/admin/queues/default/failed"
    assert dead(queue) == {}
    record = queue.store.get(job_id)
    assert record.state is State.DEAD
    assert record.error.type == "DeadLetterDeleted"
    assert record.redis_message_id is None


def test_deleting_the_dead_letter_of_a_dead_job_keeps_why_it_died(admin, queue):
    job_id = add(queue)
    died = lifecycle.finish(exception=RuntimeError("boom"), retried=False, permanent=False)
    fetch_and_nack(queue, ending=died)
    assert queue.store.get(job_id).state is State.DEAD

    press_delete(admin, "failed")

    assert dead(queue) == {}
    record = queue.store.get(job_id)
    assert record.state is State.DEAD
    assert (record.error.type, record.error.message) == ("RuntimeError", "boom")


def test_delete_all_marks_every_job_whose_end_was_lost(admin, queue):
    job_ids = [add(queue) for _ in range(3)]
    for _ in job_ids:
        fetch_and_nack(queue, ending=None)

    confirm(admin, "default", "delete")

    assert dead(queue) == {}
    assert {queue.store.get(job_id).state for job_id in job_ids} == {State.DEAD}


def test_deleting_a_message_already_gone_changes_no_record(admin, queue):
    job_id = add(queue)
    page = admin.simulate_get("/admin/queues/default/standard")
    path, fields = delete_form(page.text)
    # A worker took it meanwhile (and its end was lost): the record is the worker's.
    fetch_and_nack(queue, ending=None)

    post_form(admin, page, path, fields)

    assert queue.store.get(job_id).state is State.RUNNING


def test_deleting_while_redis_is_full_is_a_503_and_changes_nothing(admin, queue):
    job_id = add(queue)
    page = admin.simulate_get("/admin/queues/default/standard")
    path, fields = delete_form(page.text)
    client = queue.broker.client
    client.config_set("maxmemory", 1)
    try:
        refused = post_form(admin, page, path, fields)
    finally:
        client.config_set("maxmemory", 0)

    assert refused.status_code == 503
    assert "the job store is full" in refused.json["detail"]
    assert refused.headers["Retry-After"] == "30"
    assert len(waiting(queue)) == 1
    assert queue.store.get(job_id).state is State.QUEUED
