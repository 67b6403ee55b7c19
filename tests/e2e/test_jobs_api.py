"""The jobs API on the real stack: Traefik, two API instances, worker processes, Redis.

Waits are bounded polls or the API's own ``?wait=``; where time matters, the
service's own timestamps are compared, never the wall clock of this machine.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import redis
import requests

from .. import support
from ..support import submit, wait_for
from .conftest import RunningStack, stack_settings, start_stack


def store(stack: RunningStack) -> redis.Redis:
    return redis.Redis.from_url(stack.settings.effective_redis_url, decode_responses=True)


def accepted(result: requests.Response) -> dict:
    assert result.status_code == 202, result.text
    return result.json()


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def sse_events(response: requests.Response) -> Iterator[dict]:
    """Events of a text/event-stream response, as they arrive: ``{"id", "event", "data"}``."""
    for fields in support.sse_events(response.iter_lines(decode_unicode=True)):
        yield {**fields, "data": json.loads(fields["data"])}


@contextlib.contextmanager
def event_stream(url: str, **headers) -> Iterator[requests.Response]:
    response = requests.get(url, headers=headers, stream=True, timeout=60)
    try:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        yield response
    finally:
        response.close()


# Through any instance -------------------------------------------------------


def test_a_job_submitted_through_one_instance_is_visible_through_the_other(stack):
    a, b = stack.api_urls[0], stack.api_urls[1]
    submitted = requests.post(a + "/jobs", json={"actor": "add", "args": [20, 22]}, timeout=30)
    assert submitted.status_code == 202
    assert submitted.headers["X-Served-By"] == "api.1"
    job_id = submitted.json()["id"]

    seen = requests.get(f"{b}/jobs/{job_id}", params={"wait": 60}, timeout=90)

    assert seen.headers["X-Served-By"] == "api.2"
    record = seen.json()
    assert (record["id"], record["state"], record["result"]) == (job_id, "succeeded", 42)
    assert record["attempts"] == 1
    assert record["started_at"] and record["finished_at"]
    listed = requests.get(f"{b}/jobs", params={"actor": "add", "limit": 200}, timeout=30).json()
    assert job_id in [job["id"] for job in listed["jobs"]]


def test_concurrent_duplicates_with_one_idempotency_key_make_one_job(stack):
    """20 requests at once, half on each instance: one job, run once; all get its id."""
    key = f"dup-{uuid.uuid4()}"
    marker = uuid.uuid4().hex
    body = {"actor": "fail", "kwargs": {"message": marker, "permanent": True}}
    start = threading.Barrier(20)

    def post(number: int) -> requests.Response:
        url = stack.api_urls[number % 2]
        with requests.Session() as session:
            start.wait()
            return session.post(
                url + "/jobs", json=body, headers={"Idempotency-Key": key}, timeout=30
            )

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(post, range(20)))

    statuses = sorted(result.status_code for result in results)
    assert statuses == [200] * 19 + [202]
    assert {result.headers["X-Served-By"] for result in results} == {"api.1", "api.2"}
    ids = {result.json()["id"] for result in results}
    assert len(ids) == 1
    (job_id,) = ids
    record = stack.ended(job_id)
    # It ran exactly once: one attempt (each start counts one), one job with this marker.
    assert (record["state"], record["attempts"]) == ("failed", 1)
    assert record["error"]["message"] == marker
    # Its stream, once it ended, holds its outcome.
    with event_stream(f"{stack.url}/jobs/{job_id}/events") as response:
        states = [event["data"]["state"] for event in sse_events(response)]
    assert states == ["failed"]
    failed = stack.get("/jobs", params={"actor": "fail", "limit": 200}).json()["jobs"]
    assert [job["id"] for job in failed if job["kwargs"].get("message") == marker] == [job_id]


@pytest.mark.parametrize("route", ["balancer", "instance"])
def test_a_chunked_body_is_read_and_held_to_the_size_limit(stack, route):
    """Bodies without Content-Length (chunked) are read, via Traefik and straight to gunicorn."""
    url = stack.url if route == "balancer" else stack.api_urls[0]
    body = json.dumps({"actor": "add", "args": [1, 2]}).encode()

    def chunked(data: bytes, size: int = 1000) -> Iterator[bytes]:
        yield from (data[at : at + size] for at in range(0, len(data), size))

    headers = {"Content-Type": "application/json"}
    accepted = requests.post(url + "/jobs", data=chunked(body), headers=headers, timeout=30)
    assert accepted.request.headers.get("Transfer-Encoding") == "chunked"
    assert accepted.status_code == 202, accepted.text
    assert stack.ended(accepted.json()["id"])["result"] == 3

    too_big = body.ljust(stack.settings.max_request_bytes + 1000)
    refused = requests.post(
        url + "/jobs", data=chunked(too_big, 64 * 1024), headers=headers, timeout=30
    )
    assert refused.status_code == 413, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "limited to" in refused.json()["detail"]


# Events ---------------------------------------------------------------------


def test_the_event_stream_delivers_every_change_in_order_live(stack):
    steps = 20
    job = accepted(submit(stack, "count_slowly", (), kwargs={"to": steps, "interval": 0.3}))
    url = f"{stack.url}/jobs/{job['id']}/events"

    events = []
    with event_stream(url) as response:
        for event in sse_events(response):
            events.append(event)
            if event["event"] == "progress" and len(events) == 3:
                # Live, not buffered until the end: the job is still running
                # when its first progress event arrives.
                assert stack.get(f"/jobs/{job['id']}").json()["state"] == "running"

    kinds = [(e["event"], e["data"]["state"]) for e in events]
    assert kinds == [
        ("state", "queued"),
        ("state", "running"),
        *[("progress", "running")] * steps,
        ("state", "succeeded"),
    ]
    progress = [e["data"]["progress"] for e in events if e["event"] == "progress"]
    assert [p["value"] for p in progress] == [(n + 1) / steps for n in range(steps)]
    assert progress[-1]["message"] == f"counted {steps} of {steps}"
    assert events[-1]["data"]["result"] == steps
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert len(set(ids)) == len(ids)


def test_last_event_id_resumes_where_the_client_left_off(stack):
    job = accepted(submit(stack, "count_slowly", (), kwargs={"to": 5, "interval": 0.2}))
    url = f"{stack.url}/jobs/{job['id']}/events"

    # One client follows the whole job without a break, while another leaves
    # after three events and comes back with Last-Event-ID.
    with event_stream(url) as whole:
        with event_stream(url) as response:
            first = []
            for event in sse_events(response):
                first.append(event)
                if len(first) == 3:
                    break
        with event_stream(url, **{"Last-Event-ID": first[-1]["id"]}) as response:
            rest = list(sse_events(response))
        everything = list(sse_events(whole))

    assert [e["id"] for e in first + rest] == [e["id"] for e in everything]
    assert rest[-1]["data"]["state"] == "succeeded"
    # Coming back after the job ended, from any event it saw: the outcome, then the end.
    with event_stream(url, **{"Last-Event-ID": first[-1]["id"]}) as response:
        assert list(sse_events(response)) == rest[-1:]
    # Reconnecting after the last event of an ended job: 204, so EventSource stops.
    done = stack.get(f"/jobs/{job['id']}/events", headers={"Last-Event-ID": rest[-1]["id"]})
    assert (done.status_code, done.content) == (204, b"")


# Timing by the service's own clock -----------------------------------------


def test_a_delayed_job_does_not_start_before_its_time(stack):
    job = accepted(submit(stack, "add", (1, 1), options={"delay": 2}))
    assert job["state"] == "delayed"
    assert job["state"] == stack.get(f"/jobs/{job['id']}").json()["state"]

    record = stack.ended(job["id"])

    assert record["state"] == "succeeded"
    assert timestamp(record["started_at"]) >= timestamp(job["eta"])
    assert (timestamp(job["eta"]) - timestamp(job["enqueued_at"])).total_seconds() == 2


def test_wait_holds_the_request_until_the_job_ends(stack):
    """Asked to wait 60 s with a client that gives up after 45 s, it must answer at the end."""
    job = accepted(submit(stack, "count_slowly", (), kwargs={"to": 3, "interval": 0.3}))

    result = stack.get(f"/jobs/{job['id']}", params={"wait": 60}, timeout=45)

    assert result.status_code == 200
    assert (result.json()["state"], result.json()["result"]) == ("succeeded", 3)


def test_wait_answers_with_the_current_record_when_the_time_is_up(stack):
    job = accepted(submit(stack, "count_slowly", (), kwargs={"to": 600, "interval": 0.1}))
    try:
        result = stack.get(f"/jobs/{job['id']}", params={"wait": 1})
        assert result.status_code == 200
        assert result.json()["state"] in {"queued", "running"}
    finally:
        stack.delete(f"/jobs/{job['id']}")


# Failing, dead letters, retrying by hand -----------------------------------


def test_a_failing_job_retries_then_is_dead_then_runs_again_when_retried(stack):
    client = store(stack)
    job = accepted(submit(stack, "fail", (), kwargs={"message": f"boom {uuid.uuid4()}"}))
    url = f"{stack.url}/jobs/{job['id']}/events"

    # Followed while it runs (a finished job keeps only its last event).
    with event_stream(url) as response:
        events = list(sse_events(response))
    dead = stack.ended(job["id"])

    assert dead["state"] == "dead"
    assert dead["attempts"] == 3  # max_retries=2 on the actor
    assert (dead["error"]["type"], dead["error"]["message"]) == (
        "RuntimeError",
        job["kwargs"]["message"],
    )
    assert dead["error"]["traceback"].endswith(f"RuntimeError: {job['kwargs']['message']}\n")
    states = [e["data"]["state"] for e in events]
    assert states == ["queued", *["running", "retrying"] * 2, "running", "dead"]
    first_message = json.loads(client.hget(f"jobqueue:job:{job['id']}", "redis_message_id"))
    assert client.zscore("dramatiq:default.XQ", first_message) is not None

    retried = stack.post(f"/jobs/{job['id']}/retry")

    assert retried.status_code == 202
    assert retried.headers["Location"] == f"/jobs/{job['id']}"
    # Queued, or already taken by a worker woken by the retry's enqueue.
    assert retried.json()["state"] in ("queued", "running", "retrying")
    assert client.zscore("dramatiq:default.XQ", first_message) is None
    # Followed from its first end on: queued again, run again, dead again.
    with event_stream(url, **{"Last-Event-ID": events[-1]["id"]}) as response:
        states = [e["data"]["state"] for e in sse_events(response)]
    assert states[:2] == ["queued", "running"]
    again = stack.ended(job["id"])
    assert (again["state"], again["attempts"]) == ("dead", 6)
    assert states[-1] == "dead"
    assert timestamp(again["started_at"]) > timestamp(dead["finished_at"])


def test_a_record_shows_the_retries_and_time_limit_that_apply_as_actors_does(stack):
    actors = {actor["name"]: actor for actor in stack.get("/actors").json()["actors"]}
    plain = stack.job(stack.submit("add", args=[1, 2]))
    asked = stack.job(
        stack.submit("add", args=[1, 2], options={"max_retries": 1, "time_limit": 2.5})
    )
    failing = stack.ended(stack.submit("fail"))

    # Nothing asked: what the job declares, else the service's defaults, never null.
    applies = {name: actors["add"][name] for name in ("max_retries", "time_limit")}
    assert applies == {
        "max_retries": stack.settings.default_max_retries,
        "time_limit": stack.settings.default_time_limit_ms / 1000,
    }
    assert plain["options"] == {"delay": 0, "priority": "normal", **applies}
    assert (asked["options"]["max_retries"], asked["options"]["time_limit"]) == (1, 2.5)
    # What a record shows is what happened: fail declares max_retries=2.
    assert failing["options"]["max_retries"] == actors["fail"]["max_retries"] == 2
    assert (failing["state"], failing["attempts"]) == ("dead", 3)


def test_a_permanent_failure_is_failed_at_once_and_can_be_retried(stack):
    job = accepted(submit(stack, "fail", (), kwargs={"permanent": True}))

    record = stack.ended(job["id"])
    assert (record["state"], record["attempts"]) == ("failed", 1)
    assert record["error"]["type"] == "PermanentError"

    assert stack.post(f"/jobs/{job['id']}/retry").status_code == 202
    assert stack.ended(job["id"])["state"] == "failed"


# Cancelling -----------------------------------------------------------------


def test_cancelling_a_running_job_stops_it(stack):
    client = store(stack)
    # A minute's worth of counting.
    job = accepted(submit(stack, "count_slowly", (), kwargs={"to": 600, "interval": 0.1}))
    job_id = job["id"]
    wait_for(
        lambda: (stack.get(f"/jobs/{job_id}").json()["progress"] or {}).get("value", 0) > 0.005,
        timeout=30,
        what="the job to make progress",
    )

    cancelled = stack.delete(f"/jobs/{job_id}")

    assert cancelled.status_code == 200
    record = cancelled.json()
    assert record["state"] == "cancelled"
    progress_at_cancel = record["progress"]
    # The worker lets go of the message (acks it) long before the job would have ended.
    message = json.loads(client.hget(f"jobqueue:job:{job_id}", "redis_message_id"))

    def acked() -> bool:
        return not any(client.sismember(key, message) for key in client.keys("dramatiq:__acks__*"))

    wait_for(acked, timeout=30, what="the worker to stop the job and ack its message")
    assert client.zscore("dramatiq:default.XQ", message) is None
    after = stack.get(f"/jobs/{job_id}").json()
    assert after["state"] == "cancelled"
    assert after["progress"] == progress_at_cancel
    assert after["result"] is None
    with event_stream(f"{stack.url}/jobs/{job_id}/events") as response:
        events = list(sse_events(response))
    assert events[-1]["data"]["state"] == "cancelled"
    assert "succeeded" not in [e["data"]["state"] for e in events]
    assert stack.delete(f"/jobs/{job_id}").status_code == 409


# Long-lived requests do not starve an instance ------------------------------


@pytest.fixture
def roomy_stack(tmp_path):
    """A stack sized as the defaults are: 2 instances x 2 processes."""
    running = start_stack(
        tmp_path,
        stack_settings(api_processes=2, stream_slots=4096, workers=1, worker_threads=8),
    )
    try:
        yield running
    finally:
        running.stack.stop()


def test_ordinary_requests_answer_while_100_event_streams_are_open(roomy_stack):
    stack = roomy_stack
    jobs = [
        accepted(submit(stack, "count_slowly", (), kwargs={"to": 300, "interval": 0.5}))["id"]
        for _ in range(4)
    ]
    streams: list[tuple[requests.Response, Iterator[bytes]]] = []
    try:
        for number in range(100):
            response = requests.get(
                f"{stack.url}/jobs/{jobs[number % 4]}/events", stream=True, timeout=60
            )
            lines = response.iter_lines()
            streams.append((response, lines))
            assert response.status_code == 200, response.text
            # The stream is really open: its first line has arrived.
            assert next(lines) == b"retry: 1000"

        answers = [stack.get("/healthz") for _ in range(20)]
        answers += [stack.get("/jobs", params={"limit": 5}) for _ in range(10)]
        answers += [stack.get(f"/jobs/{job_id}") for job_id in jobs]
        added = stack.post("/jobs", json={"actor": "add", "args": [1, 2]})
        assert [a.status_code for a in answers] == [200] * len(answers)
        assert added.status_code == 202
        assert stack.ended(added.json()["id"])["result"] == 3
        # Every stream is still open and delivering.
        for _response, lines in streams:
            assert any(line.startswith(b"data: ") for line in lines)
    finally:
        for response, _lines in streams:
            response.close()
        for job_id in jobs:
            stack.delete(f"/jobs/{job_id}")
