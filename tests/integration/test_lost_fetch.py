"""A fetch whose reply the worker lost: its messages go back to the queue, whenever it ran.

Redis frozen (SIGSTOP) past the client's read timeout runs the fetch it
read before the freeze once it resumes, and answers no one: what the fetch
took sits in the worker's acks. The worker's next fetch must hand it back,
and a lost fetch that Redis runs only after a later one must take nothing.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from dramatiq.common import current_millis
from dramatiq.message import Message

import actors
from actors import connection
from actors.job_request import JobRequest
from actors.states import STARTABLE_STATES, State
from actors.storage.codecs import Dispatch
from actors.submission import submit_many
from tests.support import redis_server, run_job, settings_for, wait_for, worker_process

#: Jobs queued for the worker that lives through a freeze: more than it runs before it.
JOBS = 3000
#: How long after Redis resumes every job must have ended.
AFTER_FREEZE_SECONDS = 30


def acks(queue: actors.Queue) -> set[bytes]:
    return queue.broker.client.smembers(queue.broker.keys.acks(queue.broker.broker_id, "default"))


def finished(queue: actors.Queue, jobs: list[str]) -> int:
    return sum(record.ended for record in queue.store.get_many(jobs))


def job_ids(fetched: list[tuple[bytes, int]]) -> list[str]:
    return [Message.decode(data).message_id for data, _ in fetched]


def test_the_fetch_after_a_lost_reply_takes_what_the_lost_one_took(freezable):
    queue, pid = freezable
    jobs = [run_job(queue, "add", a=n, b=1) for n in range(3)]

    os.kill(pid, signal.SIGSTOP)
    with pytest.raises(redis.TimeoutError):
        queue.broker.fetch("default", 2)
    os.kill(pid, signal.SIGCONT)
    # Redis ran it once it resumed: two jobs are this worker's, with their
    # attempts reserved, and no one in this process knows of them.
    wait_for(lambda: len(acks(queue)) == 2, what="the lost fetch to run")

    fetched = queue.broker.fetch("default", 3).messages

    # They came first, as they were first in the queue, and their attempts
    # were given back before being reserved again: each job is at attempt 1.
    assert job_ids(fetched) == jobs
    assert [attempt for _, attempt in fetched] == [1, 1, 1]
    assert {record.attempts for record in queue.store.get_many(jobs)} == {1}
    assert len(acks(queue)) == 3


def test_two_lost_fetches_are_handed_back_whichever_redis_runs_first(freezable):
    queue, pid = freezable
    jobs = [run_job(queue, "add", a=n, b=1) for n in range(4)]

    os.kill(pid, signal.SIGSTOP)
    for _ in range(2):
        with pytest.raises(redis.TimeoutError):
            queue.broker.fetch("default", 1)
    os.kill(pid, signal.SIGCONT)
    # Either the second handed back what the first took, or the first, come
    # after the second, took nothing: one job is held, for the second.
    wait_for(lambda: len(acks(queue)) == 1, what="the lost fetches to run")

    fetched = queue.broker.fetch("default", 4).messages

    assert sorted(job_ids(fetched)) == sorted(jobs)
    assert {record.attempts for record in queue.store.get_many(jobs)} == {1}
    assert len(acks(queue)) == 4


def fetch(queue: actors.Queue, count: int, number: int, answered: int) -> list[tuple[bytes, int]]:
    """What a fetch numbered ``number``, sent when ``answered`` was the last answered, takes."""
    broker = queue.broker
    args = Dispatch.fetch(
        count, (number, answered), queue.store.writes, STARTABLE_STATES, broker.worker_name
    )
    return Dispatch.fetched(broker._run_dispatch("fetch", "default", args)).messages


def test_a_lost_fetch_come_late_leaves_the_workers_newer_beat(queue):
    """A worker whose beat went back in time would look dead sooner: its jobs handed on."""
    broker = queue.broker
    for n in range(2):
        run_job(queue, "add", a=n, b=1)
    sent_at = current_millis()
    lost = Dispatch.call(
        broker.keys,
        "fetch",
        "default",
        now=sent_at,
        worker_id=broker.broker_id,
        heartbeat_timeout=broker.heartbeat_timeout,
        dead_message_ttl=broker.dead_message_ttl,
        maintenance=0,
        max_unpack_size=broker._max_unpack_size(),
        args=Dispatch.fetch(1, (1, 0), queue.store.writes, STARTABLE_STATES, broker.worker_name),
    )
    # The worker beats, and fetches again, after the lost one was sent.
    time.sleep(0.01)
    assert job_ids(fetch(queue, 1, number=2, answered=0))
    beat = broker.client.zscore(broker.keys.heartbeats, broker.broker_id)
    assert beat > sent_at

    # The lost fetch arrives now: it takes nothing, and the beat stays.
    assert broker.scripts["dispatch"](keys=lost.keys, args=lost.args) == [0]
    assert broker.client.llen(broker.keys.queue("default")) == 1
    assert broker.client.zscore(broker.keys.heartbeats, broker.broker_id) == beat


def test_a_lost_fetch_that_runs_after_a_later_one_takes_nothing(queue):
    jobs = [run_job(queue, "add", a=n, b=1) for n in range(3)]
    # Fetches 1 and 2 are lost, neither run yet; fetch 3, sent after both
    # were given up, runs first.
    assert job_ids(fetch(queue, 1, number=3, answered=0)) == jobs[:1]

    # They arrive late: each takes nothing, and leaves the queue as it was.
    # Fetch 2 was sent after a lost reply, fetch 1 after none.
    assert fetch(queue, 1, number=2, answered=0) == []
    assert fetch(queue, 1, number=1, answered=0) == []
    held = queue.store.get(jobs[0]).redis_message_id
    assert acks(queue) == {held.encode()}
    assert [record.attempts for record in queue.store.get_many(jobs)] == [1, 0, 0]
    assert job_ids(fetch(queue, 3, number=4, answered=3)) == jobs[1:]


def test_a_fetch_with_no_lost_reply_before_it_hands_nothing_back(queue):
    jobs = [run_job(queue, "add", a=n, b=1) for n in range(2)]
    first = queue.broker.fetch("default", 1).messages
    second = queue.broker.fetch("default", 1).messages

    assert job_ids(first) + job_ids(second) == jobs
    assert len(acks(queue)) == 2


@pytest.mark.e2e
def test_a_worker_that_lived_through_a_redis_freeze_runs_every_job_once(tmp_path, redis_binary):
    """Frozen past the worker's read timeout while it drains a queue: nothing is left queued."""
    with redis_server(tmp_path / "redis", redis_binary) as url:
        settings = settings_for(url)
        queue = actors.connect(settings.queue_config())
        pid = queue.broker.client.info("server")["process_id"]
        _, records = submit_many(queue, [JobRequest(actor="add", args=[n, 1]) for n in range(JOBS)])
        jobs = [record.id for record in records]
        log_path = tmp_path / "worker.log"

        with log_path.open("w") as log, worker_process(settings, threads=2, log=log) as worker:
            wait_for(lambda: queue.store.get(jobs[0]).ended, timeout=30, what="a first job")
            os.kill(pid, signal.SIGSTOP)
            try:
                # Longer than a call waits: the fetch under way times out, and
                # Redis runs it when it resumes.
                time.sleep(connection.READ_TIMEOUT + 3)
            finally:
                os.kill(pid, signal.SIGCONT)
            assert finished(queue, jobs) < JOBS  # the freeze came while jobs were queued
            wait_for(
                lambda: finished(queue, jobs) == JOBS,
                timeout=AFTER_FREEZE_SECONDS,
                interval=0.5,
                what=f"every job to end ({log_path})",
            )
            assert worker.poll() is None

        ended = queue.store.get_many(jobs)
        # Each ran once, all in the one worker process that lived through it.
        assert {(record.state, record.attempts) for record in ended} == {(State.SUCCEEDED, 1)}
        assert len({record.worker_name for record in ended}) == 1
