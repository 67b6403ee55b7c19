"""Redis frozen (SIGSTOP) or killed while clients submit: every request answers, and the API heals.

Each case starts its own stack and lets client threads submit ``add`` jobs
(each with an ``Idempotency-Key``) and open ``/template`` through the load
balancer while Redis is frozen for longer than the API's read timeout, or
SIGKILLed and restarted by the stack on its port with its append-only file.
A user must see: every request answered within the read timeout, a job
accepted or a 503 with Retry-After, never a 500 and never a hang; new
submissions accepted again without restarting the API; and every job made
once, its record and one message (no worker runs: what a worker does when
Redis fails is tested with the worker's own). A 503 means the job was made
whole or not at all: resent with its key, each is accepted, once.
"""

from __future__ import annotations

import collections
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import dramatiq
import pytest
import requests

import actors
from actors.connection import READ_TIMEOUT
from tests.support import ClientThreads, wait_for

from .conftest import RunningStack, stack_settings, start_stack

CLIENTS = 20
#: What a request may take on top of the read timeout: the API's own work, under load.
MARGIN = 5
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
    running = start_stack(tmp_path, stack_settings(workers=0, api_processes=1))
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

    # No job was made twice or half: each has its record, and one message.
    assert len(set(jobs.values())) == len(jobs)
    queue = actors.connect(running.settings.queue_config())
    records = queue.store.get_many(list(jobs.values()))
    assert all(record is not None and record.state == "queued" for record in records)
    messages = collections.Counter(message.message_id for message in queued(queue))
    assert [messages[job_id] for job_id in jobs.values()] == [1] * len(jobs)


def queued(queue: actors.Queue) -> Iterator[dramatiq.Message]:
    """Every message in every queue (no worker runs here), each once per time it is queued."""
    client = queue.broker.client
    for key in client.scan_iter(match=f"{queue.broker.namespace}:*.msgs"):
        name = key.decode().removesuffix(".msgs")
        assert client.llen(name) == client.hlen(key)  # each queued once, in its list
        for data in client.hvals(key):
            yield dramatiq.Message.decode(data)
