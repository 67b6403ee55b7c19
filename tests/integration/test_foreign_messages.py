"""Messages in a queue that no dramatiq encoder wrote: dead letters, and the queue goes on."""

from __future__ import annotations

import json

import dramatiq
import pytest

from tests.support import run_job, wait_for

#: What another tool may have left in a queue, as (the message's text) each.
FOREIGN = {
    "not JSON": b"render the report, please",
    "JSON, not a message": b'{"report": "monthly"}',
    "a message with no actor": json.dumps(
        {"queue_name": "default", "options": {}, "message_id": "no-actor"}
    ).encode(),
    "a message with a field dramatiq has not": None,
    "a message written as dramatiq's but for a field it has not": None,
}


def foreign_message(written: str, like: bytes) -> bytes:
    """The message ``written``; one like a job's message ``like``, if it has no text of its own."""
    data = FOREIGN[written]
    if data is not None:
        return data
    fields = json.loads(like)
    fields["options"]["redis_message_id"] = "foreign"
    # In dramatiq's order, the job's id and timestamp last.
    timestamp = fields.pop("message_timestamp")
    del fields["message_id"]
    fields = {**fields, "priority": 1, "message_id": "foreign", "message_timestamp": timestamp}
    if "as dramatiq's" in written:
        return json.dumps(fields, separators=(",", ":")).encode()
    return json.dumps(fields).encode()


@pytest.mark.parametrize("written", FOREIGN)
def test_a_foreign_message_is_set_aside_as_a_dead_letter_and_the_jobs_after_it_run(queue, written):
    broker, client, keys = queue.broker, queue.broker.client, queue.broker.keys
    job = run_job(queue, "add", a=1, b=2)
    like = client.hget(keys.messages("default"), client.lindex(keys.queue("default"), 0))
    data = foreign_message(written, like)
    # First in line: the worker's first fetch takes it with the job.
    client.hset(keys.messages("default"), "foreign", data)
    client.lpush(keys.queue("default"), "foreign")

    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: queue.store.get(job).ended, what="the job after it to end")
    finally:
        worker.stop()

    assert queue.store.get(job).state == "succeeded"
    # An operator finds it with the queue's dead letters, as it was written.
    assert client.zscore(keys.dead_letters("default"), "foreign") is not None
    assert client.hget(keys.dead_letter_messages("default"), "foreign") == data
    assert not client.hexists(keys.messages("default"), "foreign")
    assert client.llen(keys.queue("default")) == 0
