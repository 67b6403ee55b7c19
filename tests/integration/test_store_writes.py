"""What a worker's record writes cost and guarantee, in-process on a real Redis.

Round trips are counted as Redis counts them (``INFO stats``), with one
worker on the test's own server: the figures are behaviour (how many calls a
job costs), not timings.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dramatiq
import pytest
import redis
from dramatiq.message import Message

import actors
from actors import lifecycle, stats, submission
from actors.consumer import Settlement
from actors.job_request import JobRequest
from actors.record import event_state
from actors.states import State
from actors.storage.events import position
from services.api.models import shown_event
from services.dashboard.dead_letters import requeued
from tests.support import (
    ended,
    follow_stream,
    free_ports,
    redis_server,
    run_job,
    settings_for,
    sse_events,
    started_and_ended,
    wait_for,
)

#: Commands that are not requests of the worker's own: the blocking wait of
#: an idle consumer, and the handshake of each new connection.
NOT_WORK = ("blpop", "hello", "client|setinfo", "ping")


def round_trips(client: redis.Redis) -> int:
    """Requests Redis has read from clients so far, less those of :data:`NOT_WORK`."""
    reads = client.info("stats")["total_reads_processed"]
    calls = client.info("commandstats")
    return reads - sum(calls.get(f"cmdstat_{name}", {}).get("calls", 0) for name in NOT_WORK)


def test_a_job_costs_its_worker_about_one_round_trip(queue):
    jobs = 1000
    ids = [run_job(queue, "add", a=n, b=1) for n in range(jobs)]
    watcher = queue.store.client
    before = round_trips(watcher)
    polls = 0

    def drained() -> bool:
        nonlocal polls
        polls += 1
        return watcher.hlen("dramatiq:default.msgs") == 0

    worker = dramatiq.Worker(queue.broker, worker_threads=8, worker_timeout=1000)
    worker.start()
    try:
        wait_for(drained, timeout=120, what="the queue to drain")
        # Less the polls above and the two INFO calls of each count.
        spent = round_trips(watcher) - before - polls - 2
    finally:
        worker.stop()

    records = queue.store.get_many(ids)
    assert {(record.state, record.worker_name) for record in records} == {
        (State.SUCCEEDED, queue.broker.worker_name)
    }
    # Before the record writes rode on the broker's calls, a job cost three
    # (start, end, ack) and a share of a fetch.
    assert spent <= 1.2 * jobs


def commands_run(client: redis.Redis) -> int:
    """Commands Redis has run so far, scripts' included, less this INFO itself."""
    return sum(stat["calls"] for stat in client.info("commandstats").values())


def test_a_job_costs_redis_a_fixed_number_of_commands(queue):
    # Fetched, started, then ended and acked in one batch each, as a worker
    # does: what each job adds is a count, whatever the timing.
    jobs = 100
    submission.submit_many(queue, [JobRequest(actor="add", args=[n, 1]) for n in range(jobs)])
    broker, client = queue.broker, queue.store.client
    before = commands_run(client)

    taken = [
        (Message.decode(data), attempt) for data, attempt in broker.fetch("default", jobs).messages
    ]
    for kind, write in (
        ("start", lambda attempt: lifecycle.start(attempt, worker_name=broker.worker_name)),
        (
            "ack",
            lambda attempt: lifecycle.finish(
                result=2, exception=None, retried=False, permanent=False, attempt=attempt
            ),
        ),
    ):
        settlements = [
            Settlement(kind, message.options["redis_message_id"], message.message_id, write(a))
            for message, a in taken
        ]
        assert broker.settle("default", settlements) == {}
    spent = commands_run(client) - before - 1

    assert len(taken) == jobs
    assert {record.state for record in queue.store.get_many([m.message_id for m, _ in taken])} == {
        State.SUCCEEDED
    }
    assert not client.hlen("dramatiq:default.msgs")
    # The console counted each end, though the ends were counted together.
    counted = stats.Stats(client, queue.store.keys).last_hour()
    assert round(sum(counted[State.SUCCEEDED]) * stats.SPAN) == jobs
    # Each ended job's stream lingers a moment, and is known to the next ends.
    assert client.zcard(queue.store.keys.lingering) == jobs
    # Per job: 2 to reserve its attempt, 6 to start it (its stream begins
    # with the event it was queued with), 7 to end it (its record and
    # event, its stream's moment) and none of its own to ack it. Each of
    # the three calls costs a few more for all its jobs at once (its script
    # sent, the worker's beat, the acks, the console's counts, whose
    # histogram's fields are as many as the run times' slots, the lingering
    # streams).
    assert spent <= 15 * jobs + 30


def test_a_start_and_its_end_settled_together_are_written_and_told_in_order(queue):
    jobs = 50
    submission.submit_many(queue, [JobRequest(actor="add", args=[n, 1]) for n in range(jobs)])
    broker, store, client = queue.broker, queue.store, queue.store.client
    taken = [
        (Message.decode(data), attempt) for data, attempt in broker.fetch("default", jobs).messages
    ]
    ids = [message.message_id for message, _ in taken]
    queued_ids = {job_id: store.last_event_id(job_id) for job_id in ids}
    listener = client.pubsub()
    listener.subscribe(*(store.keys.events(job_id) for job_id in ids))
    for _ in ids:
        assert listener.get_message(timeout=5)["type"] == "subscribe"
    settlements = started_and_ended(taken, broker.worker_name)
    before = commands_run(client)

    assert broker.settle("default", settlements) == {}
    spent = commands_run(client) - before - 1

    told: dict[str, list[tuple[str, dict]]] = {job_id: [] for job_id in ids}
    while message := listener.get_message(timeout=1):
        event_id, event = message["data"].decode().split(" ", 1)
        told[message["channel"].decode().split(":")[-2]].append((event_id, json.loads(event)))
    listener.close()
    for (message, _), start, end in zip(taken, settlements[::2], settlements[1::2], strict=True):
        job_id = message.message_id
        record = store.get(job_id)
        assert (record.state, record.attempts, record.worker_name) == (
            State.SUCCEEDED,
            1,
            broker.worker_name,
        )
        assert record.started_at == start.write.at and record.finished_at >= record.started_at
        assert (record.result, record.redis_message_id, record.error) == ({"n": 1}, None, None)
        # Whoever follows it hears the start, then the end, each with an id
        # after the one before, the end's the record's own.
        (started_id, started), (ended_id, ended_event) = told[job_id]
        assert (started["state"], started["attempts"], ended_event["state"]) == (
            "running",
            1,
            "succeeded",
        )
        assert started["at"] == start.write.at and ended_event["at"] == end.write.at
        assert position(queued_ids[job_id]) < position(started_id) < position(ended_id)
        assert store.last_event_id(job_id) == ended_id
        # What it keeps of its history is its end, as a job that rests keeps.
        assert [event_id for event_id, _ in store.events(job_id)] == [ended_id]
    assert not client.hlen("dramatiq:default.msgs")
    counted = stats.Stats(client, store.keys).last_hour()
    assert round(sum(counted[State.SUCCEEDED]) * stats.SPAN) == jobs
    # Per job, 8, its start and end written in one pass: its record read,
    # written and a field removed, its stream given the end's event (the
    # start's is only told) and its moment, its record's retention, both
    # events told; and a few for the whole settle (as below). Written one
    # after the other, they cost 13.
    assert spent <= 8 * jobs + 30


def _encoded(fields: dict, **json_options) -> bytes:
    return json.dumps(fields, separators=(",", ":"), **json_options).encode()


#: Ways a message of a job may be written in its queue, each as (how, what the
#: fetch reserves for it): dramatiq's encoder writes its fields in their order,
#: the job's id next to last; a raw sender's, or the dashboard's, may differ.
WRITTEN = {
    "as dramatiq writes it": (lambda fields: _encoded(fields), 1),
    "its fields in another order": (lambda fields: _encoded(fields, sort_keys=True), 1),
    "with another message id in its options": (
        lambda fields: _encoded(
            {**fields, "options": {**fields["options"], "message_id": "not-its-job"}}
        ),
        1,
    ),
    "with another message last, in its options": (
        lambda fields: _encoded(
            {
                "message_id": fields["message_id"],
                **fields,
                "options": {
                    **fields["options"],
                    "pipe_target": {
                        "queue_name": "default",
                        "message_id": "not-its-job",
                        "message_timestamp": 1,
                    },
                },
            }
        ),
        1,
    ),
    "with an escape": (lambda fields: _encoded({**fields, "kwargs": {"a": "é\n"}}), 1),
    "with no eta (null)": (
        lambda fields: _encoded({**fields, "options": {**fields["options"], "eta": None}}),
        1,
    ),
    "with an argument named eta": (lambda fields: _encoded({**fields, "kwargs": {"eta": 1}}), 1),
    # Requeued from the dashboard: it waits in its delay queue first.
    "with an eta": (
        lambda fields: _encoded({**fields, "options": {**fields["options"], "eta": 1}}),
        0,
    ),
    "with an eta whose name is written with an escape": (
        lambda fields: _encoded({**fields, "options": {**fields["options"], "eta": 1}}).replace(
            b'"eta"', b'"\\u0065ta"'
        ),
        0,
    ),
}


@pytest.mark.parametrize("written", WRITTEN)
def test_a_fetch_reserves_the_attempt_of_the_job_a_message_is_of_however_it_is_written(
    queue, written
):
    job_id = run_job(queue, "add", a=1, b=2)
    broker, store = queue.broker, queue.store
    redis_id = broker.client.lindex("dramatiq:default", 0)
    stored = broker.client.hget("dramatiq:default.msgs", redis_id)
    write, reserved = WRITTEN[written]
    data = write(json.loads(stored))
    broker.client.hset("dramatiq:default.msgs", redis_id, data)

    assert broker.fetch("default", 1).messages == [(data, reserved)]
    assert store.get(job_id).attempts == reserved


def test_a_stale_runs_start_and_end_settled_together_are_refused(queue):
    job_id = run_job(queue, "add", a=1, b=2)
    broker, store = queue.broker, queue.store
    [(data, attempt)] = broker.fetch("default", 1).messages
    stale = Message.decode(data)
    # Its worker was presumed dead: the message went back, another worker took the job.
    broker.client.lpush("dramatiq:default", stale.options["redis_message_id"])
    assert [attempt for _, attempt in broker.fetch("default", 1).messages] == [2]

    settlements = started_and_ended([(stale, attempt)], "stale")
    assert broker.settle("default", settlements) == {stale.options["redis_message_id"]: 2}

    record = store.get(job_id)
    assert (record.state, record.attempts, record.worker_name, record.result) == (
        State.QUEUED,
        2,
        broker.worker_name,
        None,
    )


@pytest.mark.parametrize("together", [True, False], ids=["settled together", "one by one"])
def test_a_start_and_end_sent_again_are_refused_and_counted_once(queue, together):
    # A worker's settle that fails is sent again with the calls that
    # succeeded just before it: Redis may have lost them, or only the answer.
    job_id = run_job(queue, "add", a=1, b=2)
    broker, store, client = queue.broker, queue.store, queue.store.client
    [(data, attempt)] = broker.fetch("default", 1).messages
    message = Message.decode(data)
    redis_id = message.options["redis_message_id"]
    start = Settlement(
        "start", redis_id, job_id, lifecycle.start(attempt, worker_name=broker.worker_name)
    )
    end = Settlement(
        "ack",
        redis_id,
        job_id,
        lifecycle.finish(
            result=None, exception=ValueError("no"), retried=False, permanent=True, attempt=attempt
        ),
    )
    calls = [[start, end]] if together else [[start], [end]]
    for call in calls:
        broker.settle("default", call)
    ended_id = store.last_event_id(job_id)

    listener = client.pubsub()
    listener.subscribe(store.keys.events(job_id))
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    for call in calls:
        refused = broker.settle("default", call)
        # Refused with the job's latest attempt, its own: nothing for its worker to give up.
        assert refused == ({redis_id: attempt} if call[0] is start else {})

    record = store.get(job_id)
    assert (record.state, record.attempts, record.error.type) == (State.FAILED, 1, "ValueError")
    assert store.last_event_id(job_id) == ended_id
    assert listener.get_message(timeout=0.5) is None
    listener.close()
    counted = stats.Stats(client, store.keys).last_hour()
    assert round(sum(counted[State.FAILED]) * stats.SPAN) == 1


def test_a_start_given_back_after_it_was_sent_may_be_sent_again(queue):
    # A fetch's attempt given back (its worker stopped) is the next fetch's
    # again: that attempt's start is a run, not a start sent twice.
    job_id = run_job(queue, "add", a=1, b=2)
    store = queue.store
    [(data, attempt)] = queue.broker.fetch("default", 1).messages
    assert store.write(job_id, lifecycle.start(attempt)) == (True, State.QUEUED, 1)
    queue.broker.requeue("default", [(Message.decode(data).options["redis_message_id"], 1)])
    assert store.get(job_id).attempts == 0

    assert [attempt for _, attempt in queue.broker.fetch("default", 1).messages] == [1]
    assert store.write(job_id, lifecycle.start(1)) == (True, State.RUNNING, 1)


def test_a_stopping_worker_records_the_end_of_every_job_it_ran(queue):
    jobs = 300
    ids = [run_job(queue, "add", a=n, b=1) for n in range(jobs)]
    messages = queue.broker.client
    worker = dramatiq.Worker(queue.broker, worker_threads=8, worker_timeout=1000)
    worker.start()
    try:
        wait_for(lambda: messages.hlen("dramatiq:default.msgs") < jobs - 50, what="some jobs")
    finally:
        worker.stop()

    states = {record.state for record in queue.store.get_many(ids)}
    # Its acks are sent in batches after the jobs end: none is left behind.
    assert State.RUNNING not in states
    assert states <= {State.SUCCEEDED, State.QUEUED}
    assert not messages.keys("dramatiq:__acks__.*")


def test_a_stale_run_cannot_overwrite_a_newer_attempt(queue):
    job_id = run_job(queue, "add", a=1, b=2)
    store, client = queue.store, queue.broker.client
    taken = next(queue.broker.consume("default", prefetch=1, timeout=100))
    assert taken.attempt.number == 1
    assert store.write(job_id, lifecycle.start(1)) == (True, State.QUEUED, 1)
    # Its worker was presumed dead: the message went back, another worker took the job.
    client.lpush("dramatiq:default", taken.options["redis_message_id"])
    assert next(queue.broker.consume("default", prefetch=1, timeout=100)).attempt.number == 2

    stale = lifecycle.finish(result=3, exception=None, retried=False, permanent=False, attempt=1)
    assert store.write(job_id, stale) == (False, State.RUNNING, 2)
    assert store.write(job_id, lifecycle.report_progress(0.5, "", attempt=1))[0] is False
    assert store.write(job_id, lifecycle.start(1))[0] is False
    assert store.write(job_id, lifecycle.start(2)) == (True, State.RUNNING, 2)
    record = store.get(job_id)
    assert (record.state, record.attempts, record.progress) == (State.RUNNING, 2, None)

    current = lifecycle.finish(result=3, exception=None, retried=False, permanent=False, attempt=2)
    assert store.write(job_id, current) == (True, State.RUNNING, 2)
    assert store.get(job_id).result == 3


def test_a_dead_job_sent_again_counts_its_attempts_up(queue, worker):
    job_id = run_job(queue, "fail")
    wait_for(lambda: queue.store.get(job_id).ended, timeout=30, what="the job to die")
    first = queue.store.get(job_id)
    assert first.attempts == 3

    # Sent again as the dashboard's requeue sends it: dramatiq's retries
    # restart at 0, and an eta sends it through the worker's delay queue.
    message = queue.actors["fail"].message().copy(message_id=job_id)
    queue.broker.enqueue(requeued(message, message.queue_name))

    def ended_again():
        record = queue.store.get(job_id)
        return record if record.ended and record.finished_at > first.finished_at else None

    record = wait_for(ended_again, timeout=30, what="the job to die again")
    assert (record.state, record.attempts) == (State.DEAD, 6)


@contextmanager
def restartable_redis(binary: Path, data_dir: Path) -> Iterator[tuple[str, Callable, Callable]]:
    """A Redis server that can be stopped and started again, on the same port and data."""
    (port,) = free_ports(1)
    running = ExitStack()

    def start() -> None:
        running.enter_context(redis_server(data_dir, binary, port=port))

    start()
    with running:
        yield f"redis://127.0.0.1:{port}/0", running.close, start


class Ran(dramatiq.Middleware):
    """Tells when a job's function has returned."""

    def __init__(self):
        self.returned = threading.Event()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self.returned.set()


def test_a_job_that_ends_while_redis_is_down_is_recorded_once_redis_is_back(tmp_path, redis_binary):
    with restartable_redis(redis_binary, tmp_path) as (url, stop, start):
        queue = actors.connect(settings_for(url).queue_config())
        job_id = run_job(queue, "count_slowly", to=3, interval=0.3)
        ran = Ran()
        # Added last, so told first when a job returns, before anything writes its end.
        queue.broker.add_middleware(ran)
        worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
        worker.start()
        try:
            wait_for(lambda: queue.store.get(job_id).state is State.RUNNING, what="the start")
            stop()
            assert ran.returned.wait(10), "the job did not end"
            start()

            record = wait_for(
                lambda: (found := queue.store.get(job_id)).ended and found,
                timeout=30,
                what="the end to be recorded",
            )
        finally:
            worker.stop()
    assert (record.state, record.result, record.attempts) == (State.SUCCEEDED, 3, 1)


def test_a_finished_job_keeps_its_record_and_last_event_only(queue, worker, client):
    jobs = 100
    ids = [run_job(queue, "add", a=n, b=2) for n in range(jobs)]
    store = queue.store
    for job_id in ids:
        ended(queue, job_id)
    # The stream of an ended job lingers a moment for readers about to block on it.
    wait_for(
        lambda: not any(store.client.exists(store.keys.events(job_id)) for job_id in ids),
        what="the ended jobs' event streams to go",
    )

    job_id = ids[-1]
    [(last_id, last)] = store.events(job_id)
    assert (event_state(last), last["result"]) == (State.SUCCEEDED, jobs + 1)
    # Each within the bytes a finished job may keep, its index entry included.
    keys = [*map(store.keys.job, ids), store.keys.index]
    # Beside them only the console's counts, which every job ending within the
    # same few seconds shares (actors/stats.py), and which go after an hour;
    # and the ids of the jobs whose streams linger, which the next ends delete
    # (lua/job.lua).
    counts = set(store.client.keys("jobqueue:stats:*"))
    lingering = b"jobqueue:lingering"
    assert set(store.client.keys("jobqueue:*")) - counts - {lingering} == {
        key.encode() for key in keys
    }
    assert store.client.zcard(lingering) <= jobs
    assert 1 <= len(counts) <= 3
    assert all(0 < store.client.ttl(key) <= stats.KEEP_SECONDS for key in counts)
    assert sum(store.client.memory_usage(key, samples=0) for key in keys) <= 600 * jobs
    # Its record expires with the retention.
    assert 0 < store.client.ttl(store.keys.job(job_id)) <= store.retention_seconds

    # A client that comes after the end gets the outcome, and its stream ends.
    late = follow_stream(client, f"/jobs/{job_id}/events")
    assert late.status_code == 200
    [seen] = sse_events(late.text.splitlines())
    assert (seen["id"], json.loads(seen["data"])) == (last_id, shown_event(last))


@pytest.mark.parametrize("settled", [False, True], ids=["written alone", "settled by a worker"])
def test_an_ended_jobs_stream_goes_with_later_ends_unless_its_job_runs_again(queue, settled):
    store = queue.store
    client, lingering = store.client, store.keys.lingering

    def run(job_id: str, *, fails: bool = False) -> None:
        assert store.write(job_id, lifecycle.start(0))[0]
        error = RuntimeError("no") if fails else None
        ended = lifecycle.finish(result=1, exception=error, retried=False, permanent=fails)
        if settled and not fails:
            # A worker's settle sweeps the lingering streams once for all its ends.
            assert queue.broker.settle("default", [Settlement("ack", "", job_id, ended)]) == {}
        else:
            assert store.write(job_id, ended)[0]
        assert store.get(job_id).ended

    gone, again, later = (run_job(queue, "add", a=n, b=1) for n in range(3))
    run(gone)
    run(again, fails=True)
    # Retried and started again while its stream still lingers.
    assert store.write(again, lifecycle.retry())[0]
    assert store.write(again, lifecycle.start(0))[0]
    # Both are long past their moment, as far as the next end can tell;
    # neither stream has reached its time to live yet.
    client.zadd(lingering, {gone: 0, again: 0})
    assert client.pttl(store.keys.events(gone)) > 0

    run(later)

    assert not client.exists(store.keys.events(gone))
    # A running job's stream has no time to live, and stays.
    assert client.pttl(store.keys.events(again)) == -1
    assert [event_state(event) for _, event in store.events(again)] == [
        State.QUEUED,
        State.RUNNING,
    ]
    assert client.pttl(store.keys.events(later)) > 0
    assert client.zrange(lingering, 0, -1) == [later.encode()]


def test_a_submission_sent_again_after_its_reply_was_lost_writes_one_job(queue):
    # What a client's retry of create.lua looks like to Redis: the same
    # prepared jobs (same ids, same messages) written a second time. It is
    # answered as the first was: the job is its own, created.
    creation = submission.prepare(queue, [JobRequest(actor="add", args=[1, 2])])
    [(created_first, job_id)] = queue.store.create_many(creation.jobs)
    [(created_again, same_id)] = queue.store.create_many(creation.jobs)

    client = queue.store.client
    assert (created_first, created_again, same_id) == (True, True, job_id)
    assert client.hlen("dramatiq:default.msgs") == 1
    assert client.xlen(queue.store.keys.index) == 1
