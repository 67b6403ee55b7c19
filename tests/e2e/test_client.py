"""The Python client (clients/python) against the real stack, blocking and asyncio."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from jobqueue_client import (
    AsyncClient,
    Client,
    Conflict,
    InvalidRequest,
    NotFound,
    Retries,
    State,
    WaitTimeout,
    job_request,
)


@pytest.fixture
def client(stack):
    with Client(stack.url, retries=Retries(backoff=0.05)) as client:
        yield client


class LosesFirstAnswers(httpx.HTTPTransport):
    """Sends each request, then loses the first ``count`` answers, as a dropped connection does."""

    def __init__(self, count: int):
        super().__init__()
        self.count = count
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.sent.append(request)
        if len(self.sent) <= self.count:
            response.read()
            raise httpx.ReadError("connection lost before the answer", request=request)
        return response


def test_a_job_submitted_is_waited_for_with_its_typed_record(client):
    job = client.submit("add", [1, 2])
    assert job.state in (State.QUEUED, State.RUNNING, State.SUCCEEDED)

    ended = client.wait(job.id, timeout=60)

    assert (ended.id, ended.state, ended.result) == (job.id, State.SUCCEEDED, 3)
    assert ended.attempts == 1
    assert ended.finished_at >= ended.started_at >= ended.enqueued_at
    assert ended.worker_name
    assert client.get(job.id) == ended


def test_a_submission_whose_answer_is_lost_is_sent_again_and_makes_one_job(stack):
    marker = uuid.uuid4().int % 10**9
    transport = LosesFirstAnswers(2)
    with Client(stack.url, retries=Retries(backoff=0.05), transport=transport) as client:
        job = client.submit("add", [marker, 0])

    keys = {request.headers["Idempotency-Key"] for request in transport.sent}
    assert len(transport.sent) == 3 and len(keys) == 1
    with Client(stack.url) as reader:
        assert reader.wait(job.id, timeout=60).result == marker
        made = [j for j in reader.iterate(actor="add") if j.args == [marker, 0]]
    assert [j.id for j in made] == [job.id]


def test_options_are_sent_and_refusals_are_typed(client):
    job = client.submit(
        "count_slowly", kwargs={"to": 2, "interval": 0.01}, delay=30, priority="low"
    )
    assert job.state is State.DELAYED
    assert job.options.priority == "low"
    assert job.eta > job.enqueued_at

    with pytest.raises(WaitTimeout) as waited:
        client.wait(job.id, timeout=0.2)
    assert waited.value.job.state is State.DELAYED

    cancelled = client.cancel(job.id)
    assert cancelled.state is State.CANCELLED
    with pytest.raises(Conflict):
        client.cancel(job.id)
    with pytest.raises(InvalidRequest) as refused:
        client.submit("add", ["one", 2])
    assert refused.value.status == 422 and "argument 'a'" in refused.value.problem.detail
    with pytest.raises(NotFound):
        client.get(str(uuid.uuid4()))
    key = str(uuid.uuid4())
    client.submit("add", [1, 1], idempotency_key=key)
    with pytest.raises(InvalidRequest) as reused:
        client.submit("add", [2, 2], idempotency_key=key)
    assert "Idempotency-Key was used before with another request" in str(reused.value)


def test_a_jobs_events_are_followed_until_it_ends(client):
    job = client.submit("count_slowly", kwargs={"to": 4, "interval": 0.05})

    events = list(client.events(job.id))

    progress = [event.data.progress.value for event in events if event.data.progress]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert events[-1].data.state is State.SUCCEEDED
    assert events[-1].data.result == 4
    assert len({event.id for event in events}) == len(events)
    # Resumed after the last one, a stream has nothing more to tell.
    assert list(client.events(job.id, after=events[-1].id)) == []


def test_a_failed_job_is_retried_and_found_by_state(client):
    job = client.submit("fail", kwargs={"message": uuid.uuid4().hex, "permanent": True})
    failed = client.wait(job.id, timeout=60)
    assert failed.state is State.FAILED
    assert failed.error.type == "PermanentError"

    assert job.id in [j.id for j in client.list(state="failed", actor="fail", limit=200).jobs]
    again = client.retry(job.id)

    assert again.state is State.QUEUED
    assert client.wait(job.id, timeout=60).attempts == 2


def test_pages_follow_their_cursor(client):
    ids = [client.submit("add", [n, n]).id for n in range(3)]

    first = client.list(actor="add", limit=2)
    second = client.list(actor="add", limit=2, cursor=first.next_cursor)

    assert [j.id for j in first.jobs] == ids[::-1][:2]
    assert second.jobs[0].id == ids[0]


def test_a_batch_is_submitted_at_once_and_once_only(stack):
    transport = LosesFirstAnswers(1)
    with Client(stack.url, retries=Retries(backoff=0.05), transport=transport) as client:
        jobs = client.submit_batch([job_request("add", [n, 1]) for n in range(3)])

        results = [client.wait(job.id, timeout=60).result for job in jobs]

    assert results == [1, 2, 3]
    # Sent twice with one key: the second answer names the first batch's jobs.
    posted = [request for request in transport.sent if request.method == "POST"]
    assert len(posted) == 2
    assert len({request.headers["Idempotency-Key"] for request in posted}) == 1


def test_the_actors_are_described(client):
    actors = {actor.name: actor for actor in client.actors()}

    assert [p.name for p in actors["add"].parameters] == ["a", "b"]
    assert actors["count_slowly"].parameters[0].json_schema["maximum"] == 10_000


def test_the_asyncio_client_does_the_same(stack):
    async def scenario():
        async with AsyncClient(stack.url) as client:
            jobs = await asyncio.gather(*(client.submit("add", [n, 2]) for n in range(5)))
            ended = await asyncio.gather(*(client.wait(job.id, timeout=60) for job in jobs))
            slow = await client.submit("count_slowly", kwargs={"to": 3, "interval": 0.05})
            states = [event.data.state async for event in client.events(slow.id)]
            listed = [job.id async for job in client.iterate(actor="add")]
            return jobs, ended, states, listed

    jobs, ended, states, listed = asyncio.run(scenario())

    assert [job.result for job in ended] == [2, 3, 4, 5, 6]
    assert states[-1] is State.SUCCEEDED and State.RUNNING in states
    assert {job.id for job in jobs} <= set(listed)
