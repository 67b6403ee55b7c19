"""The jobs API in process: a real Redis behind it, no worker.

Every error a client can provoke comes back with its status and a problem+json
body that names the problem, and nothing is enqueued by a refused request.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import dramatiq
import pytest
import redis
from falcon import testing

import actors
from actors import lifecycle, submission
from actors.job_request import JobRequest
from actors.record import JobRecord
from actors.states import State
from actors.store import NewJob
from services.api.app import create_app
from services.api.models import MAX_BATCH_JOBS

from ..support import assert_problem, follow_stream, sse_events, submit

#: Where dramatiq's Redis broker keeps the ids of messages waiting to run (and delayed).
READY = "dramatiq:default"
DELAYED = "dramatiq:default.DQ"
DEAD = "dramatiq:default.XQ"


@pytest.fixture
def r(clean_redis) -> redis.Redis:
    return redis.Redis.from_url(clean_redis)


def nothing_enqueued(r: redis.Redis) -> bool:
    return r.llen(READY) == 0 and r.llen(DELAYED) == 0 and not r.keys("jobqueue:job:*")


# Submitting -----------------------------------------------------------------


def test_submit_answers_202_with_the_record_and_where_to_find_it(client, r):
    result = submit(client, args=(2, 3), options={"max_retries": 1, "time_limit": 5})

    assert result.status_code == 202
    job = result.json
    assert result.headers["location"] == f"/jobs/{job['id']}"
    assert job["state"] == "queued"
    assert (job["actor"], job["args"], job["kwargs"], job["attempts"]) == ("add", [2, 3], {}, 0)
    assert job["options"] == {"delay": 0, "max_retries": 1, "time_limit": 5, "priority": "normal"}
    assert job["enqueued_at"] and job["started_at"] is None and job["result"] is None
    # The message is on the broker, and the record is readable at Location.
    assert r.llen(READY) == 1
    assert client.simulate_get(result.headers["location"]).json == job


def test_a_delayed_job_is_recorded_as_delayed_until_its_eta(client, r):
    job = submit(client, options={"delay": 30}).json

    assert job["state"] == "delayed"
    assert job["eta"] > job["enqueued_at"]
    assert r.llen(DELAYED) == 1 and r.llen(READY) == 0


TOO_BIG = 1 << 20  # the default max_request_bytes


@pytest.mark.parametrize(
    ("request_kwargs", "status", "detail"),
    [
        pytest.param(
            {"body": '{"actor": "add", ', "content_type": "application/json"},
            400,
            "not valid JSON",
            id="malformed-json",
        ),
        pytest.param(
            {"body": '{"actor": "add", "args": [NaN, 1]}', "content_type": "application/json"},
            400,
            "NaN",
            id="nan-is-not-json",
        ),
        pytest.param(
            {"body": '{"actor": "add", "args": [1e400, 1]}', "content_type": "application/json"},
            400,
            "out of range",
            id="number-out-of-range",
        ),
        pytest.param(
            {"body": "[" * 100_000, "content_type": "application/json"},
            400,
            "not valid JSON",
            id="nested-too-deep",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2]}, "headers": {"Idempotency-Key": "a b"}},
            400,
            "Idempotency-Key",
            id="bad-idempotency-key",
        ),
        pytest.param(
            {"body": '{"actor": "add"}', "content_type": "text/plain"},
            415,
            "application/json",
            id="text-plain",
        ),
        pytest.param({"body": '{"actor": "add"}'}, 415, "application/json", id="no-content-type"),
        pytest.param(
            {"body": " " * (TOO_BIG + 1), "content_type": "application/json"},
            413,
            f"{TOO_BIG} bytes",
            id="content-length-over-limit",
        ),
        pytest.param(
            {
                "body": json.dumps({"actor": "add", "args": [1, 2], "kwargs": {}}).ljust(
                    TOO_BIG + 10
                ),
                "content_type": "application/json",
                # A chunked body: no Content-Length, the server ends the stream.
                "headers": {"Transfer-Encoding": "chunked"},
                "extras": {"CONTENT_LENGTH": "", "wsgi.input_terminated": True},
            },
            413,
            f"{TOO_BIG} bytes",
            id="chunked-body-over-limit",
        ),
        pytest.param({"json": {"actor": "nope"}}, 422, "actor: 'nope' is not one of", id="unknown"),
        pytest.param({"json": []}, 422, "is not of type 'object'", id="body-not-object"),
        pytest.param({"json": {"args": [1, 2]}}, 422, "'actor' is a required", id="no-actor"),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2], "extra": 1}},
            422,
            "'extra' was unexpected",
            id="unknown-field",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2, 3]}},
            422,
            "arguments do not fit add",
            id="too-many-args",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1]}}, 422, "missing a required", id="missing-arg"
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1], "kwargs": {"b": 2, "c": 3}}},
            422,
            "unexpected keyword argument 'c'",
            id="unknown-kwarg",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": ["1", 2]}},
            422,
            "argument 'a' of add: Input should be a valid number",
            id="str-for-float",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [True, 2]}},
            422,
            "argument 'a' of add: Input should be a valid number",
            id="bool-for-float",
        ),
        pytest.param(
            {"json": {"actor": "count_slowly", "kwargs": {"to": 1.5}}},
            422,
            "argument 'to' of count_slowly: Input should be a valid integer",
            id="float-for-int",
        ),
        # A client must not take every worker thread for a day (issue: starvation).
        pytest.param(
            {
                "json": {
                    "actor": "count_slowly",
                    "kwargs": {"to": 10**9, "interval": 0},
                    "options": {"time_limit": 86400},
                }
            },
            422,
            "options/time_limit",
            id="starvation",
        ),
        pytest.param(
            {"json": {"actor": "count_slowly", "kwargs": {"to": 10**9}}},
            422,
            "argument 'to' of count_slowly: Input should be less than or equal to 10000",
            id="count-too-far",
        ),
        pytest.param(
            {"json": {"actor": "count_slowly", "kwargs": {"to": 0}}},
            422,
            "argument 'to' of count_slowly: Input should be greater than or equal to 1",
            id="count-to-nothing",
        ),
        pytest.param(
            {"json": {"actor": "count_slowly", "kwargs": {"interval": 0}}},
            422,
            "argument 'interval' of count_slowly: Input should be greater than or equal to 0.01",
            id="interval-zero",
        ),
        pytest.param(
            {"json": {"actor": "count_slowly", "args": [5, -1]}},
            422,
            "argument 'interval' of count_slowly: Input should be greater than or equal to 0.01",
            id="interval-negative",
        ),
        pytest.param(
            {"json": {"actor": "count_slowly", "kwargs": {"interval": 1e308}}},
            422,
            "argument 'interval' of count_slowly: Input should be less than or equal to 60",
            id="interval-huge",
        ),
        pytest.param(
            {"json": {"actor": "render_document", "kwargs": {"name": "x" * 501}}},
            422,
            "argument 'name' of render_document: String should have at most 500 characters",
            id="name-too-long",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": {"a": 1}}},
            422,
            "args: {'a': 1} is not of type 'array'",
            id="args-not-array",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2], "options": {"delay": -1}}},
            422,
            "options/delay",
            id="negative-delay",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2], "options": {"delay": 8 * 24 * 3600}}},
            422,
            "options/delay",
            id="delay-over-7-days",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2], "options": {"max_retries": "3"}}},
            422,
            "options/max_retries",
            id="max-retries-not-int",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2], "options": {"time_limit": 601}}},
            422,
            "less than or equal to 600",
            id="time-limit-over-the-setting",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2], "options": {"time_limit": 0}}},
            422,
            "options/time_limit",
            id="zero-time-limit",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2], "options": {"retries": 3}}},
            422,
            "'retries' was unexpected",
            id="unknown-option",
        ),
        pytest.param(
            {"json": {"actor": "add", "args": [1, 2], "options": {"priority": "urgent"}}},
            422,
            "options/priority",
            id="unknown-priority",
        ),
    ],
)
def test_a_refused_submission_says_why_and_enqueues_nothing(
    client, r, request_kwargs, status, detail
):
    assert_problem(client.simulate_post("/jobs", **request_kwargs), status, detail)
    assert nothing_enqueued(r)


def test_the_jobs_a_client_may_submit_are_the_public_ones_of_the_app_s_queue(settings, r):
    """The queue given to the app decides, not whatever happens to be imported.

    tests/unit/more_jobs.py declares a public job (tally) and one that is not
    (purge_reports); both are actors on this queue's broker.
    """
    modules = "actors.jobs,tests.unit.more_jobs"
    queue = actors.connect(dataclasses.replace(settings, job_modules=modules).queue_config())
    assert "purge_reports" in queue.actors
    client = testing.TestClient(create_app(settings, queue))

    refused = client.simulate_post("/jobs", json={"actor": "purge_reports", "args": [7]})
    assert_problem(refused, 422, "actor: 'purge_reports' is not one of")
    assert nothing_enqueued(r)
    accepted = client.simulate_post("/jobs", json={"actor": "tally", "args": [[1, 2]]})
    assert accepted.status_code == 202, accepted.text

    catalog = {actor["name"] for actor in client.simulate_get("/actors").json["actors"]}
    document = client.simulate_get("/openapi.json").json
    body = document["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/JobSubmission"}
    submission = document["components"]["schemas"]["JobSubmission"]
    published = set(submission["properties"]["actor"]["enum"])
    assert "tally" in catalog and "tally" in published
    assert "purge_reports" not in catalog and "purge_reports" not in published


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/json "]
)
def test_json_is_recognised_with_parameters_and_in_any_case(client, r, content_type):
    result = client.simulate_post(
        "/jobs", body='{"actor": "add", "args": [1, 2]}', content_type=content_type
    )
    assert result.status_code == 202, result.text


def test_a_chunked_body_within_the_limit_is_read(client, r):
    """Without Content-Length the body is still read (gunicorn ends chunked input)."""
    result = client.simulate_post(
        "/jobs",
        body=json.dumps({"actor": "add", "args": [1, 2]}),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        extras={"CONTENT_LENGTH": "", "wsgi.input_terminated": True},
    )

    assert result.status_code == 202, result.text
    assert r.llen(READY) == 1


@pytest.mark.parametrize(
    ("job", "where"),
    [
        ('{"actor": "render_document", "kwargs": {"name": "\\ud800"}}', "argument 'name'"),
        ('{"actor": "render_document", "args": ["\\udfff"]}', "argument 'title'"),
        (
            '{"actor": "tally", "args": [[1, {"n": ["\\ud800"]}]]}',
            "'numbers/1/n/0' of tally: text must be valid Unicode",
        ),
        ('{"actor": "tally", "args": [[{"\\ud800": 1}]]}', "'numbers/0' of tally"),
    ],
)
def test_text_that_is_not_unicode_is_refused_before_enqueueing(settings, r, job, where):
    """JSON may escape a lone surrogate, but no worker could encode it: 422, nothing queued."""
    queue = actors.connect(
        dataclasses.replace(settings, job_modules="actors.jobs,tests.unit.more_jobs").queue_config()
    )
    client = testing.TestClient(create_app(settings, queue))

    result = client.simulate_post("/jobs", body=job, content_type="application/json")

    assert_problem(result, 422, where)
    assert nothing_enqueued(r)


def test_a_jobs_arguments_are_recorded_and_sent_as_they_came(settings, r):
    queue = actors.connect(
        dataclasses.replace(settings, job_modules="actors.jobs,tests.unit.more_jobs").queue_config()
    )
    client = testing.TestClient(create_app(settings, queue))
    numbers = [1, 2.5, -0.0, 2**70, True, None, "Grüße ✓\u2028", [], {"b": [{}], "a": 1e300}]

    result = client.simulate_post(
        "/jobs/batch", json={"jobs": [{"actor": "tally", "args": [numbers]}]}
    )

    [job] = result.json["jobs"]
    assert job["args"] == [numbers]
    assert client.simulate_get(f"/jobs/{job['id']}").json["args"] == [numbers]
    [redis_id] = r.lrange("dramatiq:reports", 0, -1)
    message = dramatiq.Message.decode(r.hget("dramatiq:reports.msgs", redis_id))
    assert message.args == (numbers,)


# Idempotency ----------------------------------------------------------------


def test_the_same_idempotency_key_returns_the_first_job_and_enqueues_once(client, r):
    key = {"Idempotency-Key": "order-42"}
    first = submit(client, args=(1, 2), headers=key)
    again = submit(client, args=(1, 2), headers=key)
    # With another body, the key is refused rather than answered with a job not asked for.
    different = submit(client, args=(5, 5), headers=key)

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert again.headers["location"] == first.headers["location"]
    assert_problem(different, 422, "Idempotency-Key was used before with another request")
    assert r.llen(READY) == 1
    # A refused request does not use up its key.
    assert_problem(submit(client, args=("x", 1), headers={"Idempotency-Key": "k2"}), 422)
    assert submit(client, headers={"Idempotency-Key": "k2"}).status_code == 202
    assert r.llen(READY) == 2
    # Another key is another job.
    assert submit(client, headers={"Idempotency-Key": "order-43"}).status_code == 202
    assert r.llen(READY) == 3


def test_a_batch_with_an_idempotency_key_is_submitted_once(client, r):
    key = {"Idempotency-Key": "nightly-2026-12-06"}
    body = {"jobs": [{"actor": "add", "args": [n, 1]} for n in range(3)]}
    first = client.simulate_post("/jobs/batch", json=body, headers=key)
    again = client.simulate_post("/jobs/batch", json=body, headers=key)
    longer = {"jobs": [*body["jobs"], {"actor": "add", "args": [9, 9]}]}

    assert (first.status_code, again.status_code) == (202, 200)
    assert [job["id"] for job in again.json["jobs"]] == [job["id"] for job in first.json["jobs"]]
    assert_problem(client.simulate_post("/jobs/batch", json=longer, headers=key), 422, "another")
    # The key of a single submission is another key.
    assert submit(client, args=(0, 1), headers=key).status_code == 202
    assert r.llen(READY) == 4


def test_concurrent_duplicates_make_one_job_and_one_message(settings, queue, r):
    request = JobRequest(actor="add", args=[1, 2])
    # Each thread has its own connection to race on, as API instances do.
    queues = [actors.connect(settings.queue_config()) for _ in range(8)]
    barrier = threading.Barrier(len(queues))

    def duplicate(own_queue):
        barrier.wait()
        return submission.submit(own_queue, request, idempotency_key="race")

    with ThreadPoolExecutor(len(queues)) as pool:
        outcomes = list(pool.map(duplicate, queues))

    assert sorted(created for created, _record in outcomes) == [False] * 7 + [True]
    assert len({record.id for _created, record in outcomes}) == 1
    assert r.llen(READY) == 1
    assert len(r.keys("jobqueue:job:*")) == 1


# Round trips ----------------------------------------------------------------


#: The commands the create script runs inside Redis (Redis counts them too).
CREATE_SCRIPT_COMMANDS = {
    "get",
    "exists",
    "set",
    "hset",
    "xadd",
    "xtrim",
    "rpush",
    "lpush",
    "llen",
}


def commands_sent(r: redis.Redis, action) -> tuple[int, dict[str, int]]:
    """``(requests read, calls by command)`` that ``action`` cost, as the Redis server counts them.

    Each request a client sends and waits on is one read for the server when
    it fits one read (a small one does); a script's own commands are counted
    as calls, not as reads.
    """
    r.config_resetstat()
    action()
    stats = r.info("all")
    calls = {
        name.removeprefix("cmdstat_"): stat["calls"]
        for name, stat in stats.items()
        if name.startswith("cmdstat_") and not name.startswith(("cmdstat_info", "cmdstat_config"))
    }
    # The INFO that reads the figures is one read of its own.
    return stats["total_reads_processed"] - 1, calls


def test_a_submission_is_one_redis_round_trip(client, r):
    submit(client)  # loads the script into Redis
    key = {"Idempotency-Key": "once"}

    # Inside the script: the record, the index entry (which trims the index),
    # the message, the wake-up token (looked for: no consumer took the one
    # left already) and whether the job exists already; with an
    # Idempotency-Key, the key read and written too.
    for action, commands in (
        (lambda: submit(client, headers=key), 8),
        (lambda: client.simulate_get("/template"), 6),
    ):
        reads, calls = commands_sent(r, action)
        assert reads == 1
        assert calls.pop("evalsha") == 1
        assert set(calls) <= CREATE_SCRIPT_COMMANDS
        assert sum(calls.values()) == commands
    assert r.llen(READY) == 3
    # One wake-up token, however many messages came.
    assert r.llen(f"{READY}.wake") == 1
    assert len(r.keys("jobqueue:job:*")) == 3


def test_a_batch_of_the_most_jobs_is_one_script_call(client, r):
    submit(client)  # loads the script into Redis
    jobs = [{"actor": "add", "args": [n, n]} for n in range(MAX_BATCH_JOBS)]

    def post_batch():
        result = client.simulate_post("/jobs/batch", json={"jobs": jobs})
        assert result.status_code == 202, result.text

    _reads, calls = commands_sent(r, post_batch)
    assert calls.pop("evalsha") == 1
    # Nothing but what the script runs: no command per job from the API.
    assert set(calls) <= CREATE_SCRIPT_COMMANDS
    # A record each, and the messages put on their queue together.
    assert (calls["hset"], calls["rpush"]) == (MAX_BATCH_JOBS + 1, 1)
    assert r.llen(READY) == MAX_BATCH_JOBS + 1
    assert r.xlen("jobqueue:jobs") == MAX_BATCH_JOBS + 1


#: The commands the retry script runs inside Redis.
RETRY_SCRIPT_COMMANDS = {
    "hmget", "hset", "hdel", "exists", "xadd", "xtrim", "pexpire", "persist", "rpush", "lpush",
    "llen", "hget", "zrem", "hgetall", "zrangebyscore", "pttl", "del", "zadd", "publish",
    "zpopmin",
}  # fmt: skip


def died(client, queue) -> str:
    """A job a worker took and that died: its record dead, its message a dead letter."""
    job_id = submit(client).json["id"]
    consumer = queue.broker.consume("default", prefetch=1, timeout=100)
    message = next(consumer)
    attempt = message.attempt
    queue.store.write(job_id, lifecycle.start(attempt.number))
    attempt.ending = lifecycle.finish(
        exception=RuntimeError("boom"), retried=False, permanent=False, attempt=attempt.number
    )
    consumer.nack(message)
    consumer.close()
    return job_id


def test_a_retry_reads_the_record_then_is_one_script_call(client, queue, r):
    first, job_id = died(client, queue), died(client, queue)
    client.simulate_post(f"/jobs/{first}/retry")  # loads the script into Redis
    assert r.zcard(DEAD) == 1
    answers = []

    reads, calls = commands_sent(
        r, lambda: answers.append(client.simulate_post(f"/jobs/{job_id}/retry"))
    )

    assert answers[0].status_code == 202, answers[0].text
    assert (answers[0].json["state"], answers[0].json["error"]) == ("queued", None)
    # The record, which the message is built from, then the script that
    # checks, writes, sends and answers with the record.
    assert reads == 2
    assert calls.pop("evalsha") == 1
    assert set(calls) <= RETRY_SCRIPT_COMMANDS
    # Queued again with its message, which is no dead letter any more.
    assert r.llen(READY) == 2
    assert r.zcard(DEAD) == 0


# Batches --------------------------------------------------------------------


def test_a_batch_enqueues_every_job(client, r):
    result = client.simulate_post(
        "/jobs/batch",
        json={
            "jobs": [
                {"actor": "add", "args": [1, 2]},
                {"actor": "count_slowly", "kwargs": {"to": 2}},
                {"actor": "add", "args": [3, 4], "options": {"delay": 60}},
                {"actor": "add", "args": [5, 6], "options": {"priority": "high"}},
                {"actor": "add", "args": [7, 8]},
            ]
        },
    )

    assert result.status_code == 202, result.text
    jobs = result.json["jobs"]
    assert [(j["actor"], j["state"]) for j in jobs] == [
        ("add", "queued"),
        ("count_slowly", "queued"),
        ("add", "delayed"),
        ("add", "queued"),
        ("add", "queued"),
    ]
    assert len({j["id"] for j in jobs}) == 5
    # Each with the options it asked for, whatever the others asked.
    assert [(j["options"]["delay"], j["options"]["priority"]) for j in jobs] == [
        (0, "normal"),
        (0, "normal"),
        (60, "normal"),
        (0, "high"),
        (0, "normal"),
    ]
    assert jobs[1]["options"]["max_retries"] != jobs[0]["options"]["max_retries"]
    # Each message on its job's queue, in the batch's order.
    assert queued_jobs(r, READY) == [jobs[0]["id"], jobs[1]["id"], jobs[4]["id"]]
    assert queued_jobs(r, DELAYED) == [jobs[2]["id"]]
    assert queued_jobs(r, "dramatiq:default-high") == [jobs[3]["id"]]
    for job in jobs:
        assert client.simulate_get(f"/jobs/{job['id']}").json["state"] == job["state"]


def queued_jobs(r: redis.Redis, queue: str) -> list[str]:
    """The jobs whose messages wait on ``queue``, in its order."""
    return [
        dramatiq.Message.decode(r.hget(f"{queue}.msgs", redis_id)).message_id
        for redis_id in r.lrange(queue, 0, -1)
    ]


def test_each_job_of_a_batch_and_its_message_have_random_ids_of_their_own(client, r):
    jobs = [{"actor": "add", "args": [n, n]} for n in range(50)]

    result = client.simulate_post("/jobs/batch", json={"jobs": jobs})

    job_ids = [job["id"] for job in result.json["jobs"]]
    redis_ids = [redis_id.decode() for redis_id in r.lrange(READY, 0, -1)]
    assert len(set(job_ids) | set(redis_ids)) == 2 * len(jobs)
    for text in job_ids + redis_ids:
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)
    for job_id, redis_id in zip(job_ids, redis_ids, strict=True):
        message = dramatiq.Message.decode(r.hget(f"{READY}.msgs", redis_id))
        assert (message.message_id, message.options["redis_message_id"]) == (job_id, redis_id)


@pytest.mark.parametrize(
    ("bad", "detail"),
    [
        ({"actor": "nope"}, "jobs/1/actor: 'nope' is not one of"),
        (
            {"actor": "add", "args": ["x", 1]},
            "jobs/1: argument 'a' of add: Input should be a valid number",
        ),
        ({"actor": "add", "options": {"delay": -1}}, "jobs/1/options/delay"),
    ],
)
def test_a_batch_with_one_invalid_job_enqueues_none(client, r, bad, detail):
    body = {"jobs": [{"actor": "add", "args": [1, 2]}, bad, {"actor": "add", "args": [3, 4]}]}

    assert_problem(client.simulate_post("/jobs/batch", json=body), 422, detail)
    assert nothing_enqueued(r)
    assert client.simulate_get("/jobs").json["jobs"] == []


def test_an_empty_batch_is_refused(client, r):
    assert_problem(client.simulate_post("/jobs/batch", json={"jobs": []}), 422, "jobs")


def test_a_batch_of_one_job_too_many_is_refused_whole(client, r):
    jobs = [{"actor": "add", "args": [n, n]} for n in range(MAX_BATCH_JOBS + 1)]

    result = client.simulate_post("/jobs/batch", json={"jobs": jobs})

    assert_problem(result, 422, f"at most {MAX_BATCH_JOBS} items")
    assert nothing_enqueued(r)
    assert_problem(client.simulate_post("/jobs/batch", body="{}", content_type="text/plain"), 415)


# Reading, listing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/jobs/no-such-job"),
        ("DELETE", "/jobs/no-such-job"),
        ("POST", "/jobs/no-such-job/retry"),
        ("GET", "/jobs/no-such-job/events"),
    ],
)
def test_an_unknown_job_is_404(client, method, path):
    assert_problem(client.simulate_request(method, path), 404, "no job no-such-job")


def test_list_is_newest_first_filtered_and_paginated(client):
    ids = [submit(client, args=(n, n)).json["id"] for n in range(5)]
    slow = submit(client, "count_slowly", args=(3,)).json["id"]
    client.simulate_delete(f"/jobs/{ids[1]}")
    newest_first = [slow, *reversed(ids)]

    page = client.simulate_get("/jobs")
    assert page.status_code == 200
    assert [j["id"] for j in page.json["jobs"]] == newest_first

    by_actor = client.simulate_get("/jobs", params={"actor": "count_slowly"}).json["jobs"]
    assert [j["id"] for j in by_actor] == [slow]
    cancelled = client.simulate_get("/jobs", params={"state": "cancelled"}).json["jobs"]
    assert [(j["id"], j["state"]) for j in cancelled] == [(ids[1], "cancelled")]
    both = client.simulate_get("/jobs", params={"state": "queued", "actor": "add"}).json
    assert [j["id"] for j in both["jobs"]] == [ids[4], ids[3], ids[2], ids[0]]

    # Pages of two, followed by cursor; a job submitted meanwhile does not shift them.
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.simulate_get("/jobs", params=params).json
        # No cursor leads past the last job to an empty page.
        assert 1 <= len(page["jobs"]) <= 2
        seen += [j["id"] for j in page["jobs"]]
        if len(seen) == 2:
            submit(client, args=(9, 9))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first


def test_a_result_holding_a_lone_surrogate_is_listed_escaped(client, queue):
    """A job may return such text (JSON escapes it); the list shows it rather than fail."""
    queue.store.create_many(
        [NewJob(JobRecord(id="odd", actor="add", state=State.SUCCEEDED, result="\ud800"))]
    )

    page = client.simulate_get("/jobs")

    assert page.status_code == 200
    assert [job["result"] for job in page.json["jobs"]] == ["\ud800"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"state": "sleeping"}, "state must be one of"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "18446744073709551616-0"}, "cursor"),
        ({"cursor": "1-1\n"}, "cursor"),
        ({"cursor": "\u0661-1"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_400(client, params, detail):
    assert_problem(client.simulate_get("/jobs", params=params), 400, detail)


@pytest.mark.parametrize(("path", "listed"), [("/jobs", "jobs"), ("/workflows", "workflows")])
def test_a_cursor_from_the_far_end_gives_an_empty_page(client, path, listed):
    submit(client)
    page = client.simulate_get(path, params={"cursor": "0-0"})
    assert page.status_code == 200
    assert page.json == {listed: [], "next_cursor": None}


@pytest.mark.parametrize("wait", ["-1", "soon", "61", "inf"])
def test_bad_wait_is_400(client, wait):
    job_id = submit(client).json["id"]
    assert_problem(client.simulate_get(f"/jobs/{job_id}", params={"wait": wait}), 400, "wait")


def test_wait_answers_with_the_record_when_the_time_is_up(client, r):
    """No worker runs it, so the job is still queued when the wait ends."""
    job_id = submit(client).json["id"]

    answers = []

    _, calls = commands_sent(
        r, lambda: answers.append(client.simulate_get(f"/jobs/{job_id}", params={"wait": "0.5"}))
    )

    (result,) = answers
    assert result.status_code == 200
    assert result.json["state"] == "queued"
    # Following from the start, it looks for no last event to start after.
    assert "xrevrange" not in calls


# Cancelling, retrying -------------------------------------------------------


def test_cancelling_a_queued_job_then_again_is_409(client):
    job_id = submit(client).json["id"]

    cancelled = client.simulate_delete(f"/jobs/{job_id}")
    assert cancelled.status_code == 200
    assert cancelled.json["state"] == "cancelled"
    assert cancelled.json["finished_at"] is not None

    assert_problem(client.simulate_delete(f"/jobs/{job_id}"), 409, "already ended: cancelled")
    assert client.simulate_get(f"/jobs/{job_id}").json["state"] == "cancelled"


def test_a_delayed_job_can_be_cancelled(client):
    job_id = submit(client, options={"delay": 60}).json["id"]
    assert client.simulate_delete(f"/jobs/{job_id}").json["state"] == "cancelled"


@pytest.mark.parametrize("cancel_first", [False, True])
def test_retrying_a_job_that_is_not_failed_or_dead_is_409(client, r, cancel_first):
    job_id = submit(client).json["id"]
    if cancel_first:
        client.simulate_delete(f"/jobs/{job_id}")
    state = "cancelled" if cancel_first else "queued"

    assert_problem(client.simulate_post(f"/jobs/{job_id}/retry"), 409, f"job {job_id} is {state}")
    assert client.simulate_get(f"/jobs/{job_id}").json["state"] == state
    assert r.llen(READY) == 1


def test_priority_puts_a_job_in_its_lane(client, r):
    high = submit(client, options={"priority": "high"})
    low = submit(client, options={"priority": "low"})
    normal = submit(client)

    assert high.status_code == low.status_code == normal.status_code == 202
    assert high.json["options"]["priority"] == "high"
    assert normal.json["options"]["priority"] == "normal"
    assert (r.llen(READY + "-high"), r.llen(READY), r.llen(READY + "-low")) == (1, 1, 1)


# Events ---------------------------------------------------------------------


def parse_events(text: str) -> list[dict]:
    return [{**e, "data": json.loads(e["data"])} for e in sse_events(text.splitlines())]


def test_a_client_resuming_after_the_job_ended_gets_its_outcome_and_the_stream_ends(
    settings, queue
):
    client = testing.TestClient(create_app(dataclasses.replace(settings, stream_seconds=1), queue))
    job_id = submit(client).json["id"]
    # While the job waits, a client follows it (the stream ends after stream_seconds).
    [seen] = parse_events(follow_stream(client, f"/jobs/{job_id}/events").text)
    assert seen["data"]["state"] == "queued"
    client.simulate_delete(f"/jobs/{job_id}")

    resumed = follow_stream(client, f"/jobs/{job_id}/events", headers={"Last-Event-ID": seen["id"]})
    assert resumed.status_code == 200
    assert resumed.headers["content-type"] == "text/event-stream"
    [outcome] = parse_events(resumed.text)
    assert (outcome["event"], outcome["data"]["state"]) == ("state", "cancelled")
    # A client that comes only now gets the same outcome, under the same id: a
    # finished job keeps its last event, not its history.
    late = follow_stream(client, f"/jobs/{job_id}/events")
    assert parse_events(late.text) == [outcome]
    # Resuming after the last event of an ended job: nothing more will come.
    done = client.simulate_get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": outcome["id"]})
    assert (done.status_code, done.text) == (204, "")


def test_the_stream_of_a_job_still_waiting_ends_after_stream_seconds(settings, queue):
    client = testing.TestClient(create_app(dataclasses.replace(settings, stream_seconds=1), queue))
    job_id = submit(client).json["id"]

    # No worker: the job stays queued, and the stream ends anyway, so that
    # the browser reconnects (with Last-Event-ID) instead of holding a thread.
    result = follow_stream(client, f"/jobs/{job_id}/events")
    assert result.status_code == 200
    assert [e["data"]["state"] for e in parse_events(result.text)] == ["queued"]


def test_a_bad_last_event_id_is_400(client):
    job_id = submit(client).json["id"]
    for bad in ("yesterday", "99999999999999999999-0"):
        result = client.simulate_get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": bad})
        assert_problem(result, 400, "Last-Event-ID")


def test_a_stream_resumed_past_the_last_event_ends_with_the_job(settings, queue):
    """A Last-Event-ID past the job's last event must not hold a slot until STREAM_SECONDS."""
    app = create_app(dataclasses.replace(settings, stream_seconds=30), queue)
    client = testing.TestClient(app)
    job_id = submit(client).json["id"]
    far_ahead = "99999999999999-0"
    ended = threading.Timer(0.5, queue.store.write, args=(job_id, lifecycle.cancel()))
    ended.start()

    result = follow_stream(client, f"/jobs/{job_id}/events", headers={"Last-Event-ID": far_ahead})
    ended.join()

    # The stream ended at the job's end, with it, not 30 s later with nothing.
    assert result.status_code == 200
    assert [e["data"]["state"] for e in parse_events(result.text)] == ["cancelled"]
