"""Jobs submitted and sent from Python are recorded like those submitted over HTTP."""

from __future__ import annotations

import dramatiq
import pytest

from actors.jobs import add, count_slowly, fail
from actors.states import State
from actors.submission import InvalidJob
from tests.support import ended, wait_for


def listed(client, **params) -> dict[str, str]:
    """GET /jobs: the state of each job listed, by id."""
    jobs = client.simulate_get("/jobs", params=params).json["jobs"]
    return {job["id"]: job["state"] for job in jobs}


def test_submit_records_and_enqueues_a_job_and_returns_its_record(client, queue):
    record = add.submit(1, 2)

    assert (record.state, record.actor, record.args) == (State.QUEUED, "add", [1, 2])
    assert listed(client) == {record.id: "queued"}
    assert queue.broker.client.llen("dramatiq:default") == 1


def test_submit_checks_arguments_and_options_as_the_api_does(client, queue):
    with pytest.raises(InvalidJob, match="argument 'a' of add: Input should be a valid number"):
        add.submit("a", "b")
    with pytest.raises(InvalidJob, match="argument 'to' of count_slowly"):
        count_slowly.submit(to=0)
    with pytest.raises(InvalidJob, match="'priority' of add"):
        add.submit_with_options(args=[1, 2], priority="urgent")

    assert listed(client) == {}
    assert queue.broker.client.llen("dramatiq:default") == 0


def test_submit_takes_the_options_of_the_api(queue):
    delayed = add.submit_with_options(args=[1, 2], delay=60, priority="high")
    again = add.submit_with_options(args=[5, 5], idempotency_key="k")
    same = add.submit_with_options(args=[5, 5], idempotency_key="k")

    assert (delayed.state, delayed.queue) == (State.DELAYED, "default-high")
    assert same.id == again.id
    assert queue.broker.client.llen("dramatiq:default") == 1


def test_a_job_sent_the_dramatiq_way_is_listed_with_its_state_before_it_runs(client, queue, admin):
    sent = add.send(1, 2)
    delayed = add.send_with_options(args=(3, 4), delay=60_000, priority="high")

    assert listed(client) == {sent.message_id: "queued", delayed.message_id: "delayed"}
    assert client.simulate_get(f"/jobs/{delayed.message_id}").json["queue"] == "default-high"
    assert sent.message_id in admin.simulate_get("/admin/jobs").text


def test_a_send_records_its_job_in_the_call_that_enqueues_it(queue):
    add.send(1, 2)  # loads the script into Redis
    client = queue.broker.client
    client.config_resetstat()

    sent = add.send(1, 2)

    stats = client.info("all")
    # One request (the INFO that reads the figures is another), one script.
    assert stats["total_reads_processed"] - 1 == 1
    assert stats["cmdstat_evalsha"]["calls"] == 1
    assert queue.store.get(sent.message_id).state is State.QUEUED


def test_pipelines_and_groups_are_recorded_step_by_step(client, queue, worker):
    dramatiq.group([add.message(1, 2), add.message(5, 5)], broker=queue.broker).run()
    dramatiq.pipeline([add.message(1, 1), add.message(10)], broker=queue.broker).run()

    # The pipeline's second step is sent, and listed, when the first ends.
    wait_for(lambda: len(listed(client)) == 4, what="the pipeline's second step")
    records = [ended(queue, job_id) for job_id in listed(client)]
    assert sorted(record.result for record in records) == [2, 3, 10, 12]
    assert {record.state for record in records} == {State.SUCCEEDED}


def test_a_retry_keeps_the_record_it_retries(queue, worker):
    sent = fail.send("boom")
    worker.join()

    record = ended(queue, sent.message_id)
    # fail allows 2 retries: one record, three attempts.
    assert (record.state, record.attempts) == (State.DEAD, 3)
    assert record.error.message == "boom"
