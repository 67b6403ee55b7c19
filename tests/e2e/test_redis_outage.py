"""Redis frozen (SIGSTOP) or killed while clients submit: every request answers, and the API heals.

Each case starts its own stack and lets client threads submit ``add`` jobs
(each with an ``Idempotency-Key``) and open ``/template`` through the load
balancer while Redis is frozen for longer than the API's read timeout, or
SIGKILLed and restarted by the stack on its port with its append-only file.
A user must see: every request answered within the read timeout, a job
accepted or a 503 with Retry-After, never a 500 and never a hang; new
submissions accepted again without restarting the API; and every job made
once, and run once: a worker takes jobs throughout, and every job accepted
around the outage ends, on the worker process that lived through it. A 503
means the job was made whole or not at all: resent with its key, each is
accepted, once.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

import actors
from actors.connection import READ_TIMEOUT
from tests.support import ClientThreads, wait_for

from .conftest import RunningStack, stack_settings, start_stack

CLIENTS = 20
#: What a request may take on top of the read timeout: the API's own work, under load.
MARGIN = 5
#: Jobs queued just before the outage, so that it finds the worker fetching.
BACKLOG = 2000
#: How long after the outage every accepted job must have ended.
AFTER_OUTAGE_SECONDS = 60
#: Accepted: a job made now, by this request, also when the API made its call
#: again after Redis's reply was lost (200 is for a later request with the key).
ACCEPTED = (202,)


@dataclass
class Answer:
    path: str
    status: int | None  # None: no answer within the read timeout and its margin
    retry_after: str | None
    job: dict | None = None  # a submission's body
    key: str | None = None
    job_id: str | None = None
    detail: str = ""  # a refusal's problem document's
    seconds: float = 0.0  # how long it took to answer


class Clients(ClientThreads):
    """``CLIENTS`` threads, each submitting a job then opening /template, until stopped."""

    def __init__(self, url: str):
        super().__init__(url, CLIENTS, join_timeout=READ_TIMEOUT + 2 * MARGIN)
        self.answers: list[Answer] = []

    def accepted(self) -> int:
        with self.lock:
            return sum(answer.status in ACCEPTED for answer in self.answers)

    def round(self, http: requests.Session, number: int, count: int) -> None:
        key = str(uuid.uuid4())
        self._ask(http, "/jobs", key=key, json={"actor": "add", "args": [number, count]})
        self._ask(http, "/template", params={"title": f"{number}", "message": f"{count}"})

    def _ask(self, http: requests.Session, path: str, key: str | None = None, **kwargs) -> None:
        method = http.post if key else http.get
        headers = {"Idempotency-Key": key} if key else {}
        asked = time.monotonic()
        try:
            response = method(
                self.url + path, headers=headers, timeout=READ_TIMEOUT + 2 * MARGIN, **kwargs
            )
        except requests.RequestException:
            answer = Answer(path, None, None, kwargs.get("json"), key)
        else:
            job_id = response.json()["id"] if key and response.status_code in ACCEPTED else None
            retry_after = response.headers.get("Retry-After")
            answer = Answer(
                path, response.status_code, retry_after, kwargs.get("json"), key, job_id
            )
            if response.status_code == 503:
                answer.detail = response.json()["detail"]
        answer.seconds = time.monotonic() - asked
        with self.lock:
            self.answers.append(answer)
        if answer.status not in ACCEPTED:
            time.sleep(0.1)  # refused: a client backs off a little


@pytest.fixture
def running(tmp_path) -> Iterator[RunningStack]:
    running = start_stack(tmp_path, stack_settings(workers=1, api_processes=1))
    try:
        yield running
    finally:
        running.stack.stop()


@pytest.mark.e2e
@pytest.mark.parametrize("outage", ["frozen", "killed"])
def test_every_request_answers_while_redis_fails_and_every_job_is_made_once(running, outage):
    with Clients(running.url) as clients:
        wait_for(lambda: clients.accepted() >= 50, timeout=30, what="jobs to be accepted")
        redis_pid = running.stack.supervisor.processes["redis"].pid
        worker = running.stack.supervisor.processes["worker.1"]
        backlog = submit_backlog(running)
        if outage == "frozen":
            os.kill(redis_pid, signal.SIGSTOP)
            # Longer than a call waits: requests in flight time out, later ones too.
            time.sleep(READ_TIMEOUT + 8)
            os.kill(redis_pid, signal.SIGCONT)
        else:
            os.kill(redis_pid, signal.SIGKILL)
        during = len(clients.answers)
        # The same API processes accept submissions again, on their own.
        wait_for(
            lambda: running.accepts(timeout=5),
            timeout=READ_TIMEOUT,
            interval=0.2,
            what="a submission",
        )
        wait_for(lambda: clients.accepted() >= during + 50, timeout=30, what="more jobs")

    answers = clients.answers
    statuses = {answer.status for answer in answers}
    refused = [answer for answer in answers if answer.status == 503]
    print(f"{outage}: {len(answers)} requests, statuses {sorted(statuses, key=str)}")
    assert statuses <= {*ACCEPTED, 503}
    # None waited on Redis past the read timeout: a frozen Redis is not waited for twice.
    assert max(answer.seconds for answer in answers) <= READ_TIMEOUT + MARGIN
    assert all(answer.retry_after for answer in refused)
    # What a refusal means, the client is told: resend with the same key.
    assert all("same Idempotency-Key" in answer.detail for answer in refused)
    if outage == "frozen":
        assert {answer.path for answer in refused} == {"/jobs", "/template"}

    # Each refused submission was made whole or not at all: resent with its
    # key it is accepted, as the job that was made (200) or made now (202).
    submitted = [answer for answer in answers if answer.key]
    jobs = {answer.key: answer.job_id for answer in submitted if answer.status in ACCEPTED}
    made_anyway = 0
    for answer in refused:
        if answer.key:
            headers = {"Idempotency-Key": answer.key}
            resent = running.post("/jobs", headers=headers, json=answer.job)
            assert resent.status_code in (200, 202), resent.text
            made_anyway += resent.status_code == 200
            jobs[answer.key] = resent.json()["id"]
    print(f"{outage}: {len(refused)} refused, {made_anyway} of them made before the refusal")

    # No job was made twice or half, and each ran once: every one ends, the
    # backlog's too, by the worker that lived through the outage (no restart).
    assert len(set(jobs.values())) == len(jobs)
    bodies = {answer.key: answer.job for answer in submitted}
    results = {job_id: sum(bodies[key]["args"]) for key, job_id in jobs.items()} | backlog
    queue = actors.connect(running.settings.queue_config())

    def not_ended() -> list:
        return [record for record in queue.store.get_many(list(results)) if not record.ended]

    try:
        wait_for(
            lambda: not not_ended(),
            timeout=AFTER_OUTAGE_SECONDS,
            interval=0.5,
            what="every accepted job to end",
        )
    except AssertionError:
        # Which jobs, and where they were left, say where the outage lost them.
        left = [(r.id, r.state, r.attempts, r.worker_name) for r in not_ended()]
        raise AssertionError(f"{len(left)} job(s) never ended: {left[:5]}") from None
    records = queue.store.get_many(list(results))
    assert {(record.state, record.attempts) for record in records} == {("succeeded", 1)}
    assert [record.result for record in records] == list(results.values())
    assert len({record.worker_name for record in records}) == 1
    assert running.stack.supervisor.processes["worker.1"] is worker
    assert worker.poll() is None
    # Nor is any message of them, or of /template's jobs, left behind.
    wait_for(lambda: not held_or_queued(queue), timeout=30, what="the queues to drain")


def submit_backlog(running: RunningStack) -> dict[str, int]:
    """Queue :data:`BACKLOG` ``add`` jobs; each one's result to come, by id."""
    results = {}
    for first in range(0, BACKLOG, 1000):
        numbers = range(first, first + 1000)
        body = {"jobs": [{"actor": "add", "args": [number, 1]} for number in numbers]}
        response = running.post("/jobs/batch", json=body)
        assert response.status_code == 202, response.text
        made = zip(response.json()["jobs"], numbers, strict=True)
        results |= {job["id"]: number + 1 for job, number in made}
    return results


def held_or_queued(queue: actors.Queue) -> int:
    """How many messages are queued, or held by a worker, in every queue."""
    client = queue.broker.client
    return sum(
        client.hlen(key) for key in client.scan_iter(match=f"{queue.broker.namespace}:*.msgs")
    )
