"""A worker's consumers through Redis frozen or cut off: they go on, and drop nothing they hold.

dramatiq's consumer thread, given a connection error, drops the delayed
messages it holds and makes a new consumer; given a timeout, it logs an
unexpected error and hands them back, which fails while Redis is still away
and ends the thread. Either way a delayed job was left in the worker's acks,
run by no one until the worker stopped.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import dramatiq
import pytest

import actors
from actors.job_request import JobOptions, JobRequest
from actors.states import State
from actors.submission import submit
from tests.support import wait_for

#: How far off the delayed job is due: past the outage.
DELAY_SECONDS = 3.0


@pytest.fixture
def working(freezable) -> Iterator[tuple[actors.Queue, int]]:
    """``freezable``'s queue and server, with a worker in this process taking its jobs."""
    queue, pid = freezable
    worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        yield queue, pid
    finally:
        os.kill(pid, signal.SIGCONT)
        worker.stop()


def held_delayed(queue: actors.Queue, job_id: str) -> bool:
    """Whether the worker's delay-queue consumer holds the job's message."""
    acks = queue.broker.keys.acks(queue.broker.broker_id, "default.DQ")
    redis_id = queue.broker.client.srandmember(acks)
    return redis_id is not None and job_id.encode() in queue.broker.client.hget(
        queue.broker.keys.messages("default.DQ"), redis_id
    )


def delayed_job(queue: actors.Queue) -> str:
    """A job due in :data:`DELAY_SECONDS`, once the worker holds it."""
    options = JobOptions(delay=DELAY_SECONDS)
    _, record = submit(queue, JobRequest(actor="add", args=[1, 2], options=options))
    wait_for(lambda: held_delayed(queue, record.id), what="the worker to hold the delayed job")
    return record.id


def runs_on_time(queue: actors.Queue, job_id: str) -> None:
    wait_for(
        lambda: queue.store.get(job_id).ended, timeout=DELAY_SECONDS + 5, what="the job to end"
    )
    record = queue.store.get(job_id)
    assert (record.state, record.attempts, record.result) == (State.SUCCEEDED, 1, 3)


def test_a_delayed_job_held_when_redis_cuts_every_connection_runs_on_time(working):
    queue, _ = working
    job_id = delayed_job(queue)

    queue.broker.client.client_kill_filter(_type="normal", skipme=True)

    runs_on_time(queue, job_id)


def test_a_delayed_job_held_through_a_freeze_past_the_read_timeout_runs_on_time(working):
    queue, pid = working
    job_id = delayed_job(queue)

    os.kill(pid, signal.SIGSTOP)
    time.sleep(DELAY_SECONDS / 2)  # the consumers' calls time out, then their next ones
    os.kill(pid, signal.SIGCONT)

    runs_on_time(queue, job_id)


def test_a_delayed_job_that_comes_due_while_redis_is_frozen_runs_once_it_thaws(working):
    queue, pid = working
    job_id = delayed_job(queue)

    os.kill(pid, signal.SIGSTOP)
    time.sleep(DELAY_SECONDS + 1)  # its time comes, and sending it to its queue times out
    os.kill(pid, signal.SIGCONT)

    runs_on_time(queue, job_id)


def test_a_retry_a_job_sends_as_it_fails_while_redis_is_frozen_is_sent_once_it_thaws(working):
    queue, pid = working
    options = JobOptions(time_limit=1.0, max_retries=1)
    slow = JobRequest(actor="count_slowly", kwargs={"to": 100, "interval": 0.05}, options=options)
    _, record = submit(queue, slow)
    wait_for(lambda: queue.store.get(record.id).state == State.RUNNING, what="the job to start")

    # Its time runs out, and its retry is sent, while Redis is frozen.
    os.kill(pid, signal.SIGSTOP)
    time.sleep(5)
    os.kill(pid, signal.SIGCONT)

    ended = wait_for(
        lambda: (found := queue.store.get(record.id)).ended and found,
        timeout=30,
        what="the job to end after its retry",
    )
    assert (ended.state, ended.attempts, ended.error.type) == (
        State.DEAD,
        2,
        "TimeLimitExceeded",
    )
