"""The job-state and cancellation middleware, in an in-process worker on a real Redis.

Each test submits a job as a client would and reads what its record says once
the worker is done with it, and what a client following its events saw: a
finished job keeps only its last event, so its history is seen while it runs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
import pytest
from dramatiq.middleware import Middleware

from actors import lifecycle
from actors.record import Progress, event_kind, event_state
from actors.states import TERMINAL_STATES, State
from actors.submission import retry
from tests.support import ended, run_job, wait_for


def followed(queue, job_id: str) -> list[dict[str, Any]]:
    """The job's events, as a client that follows it from now until it ends sees them."""
    follow = queue.store.follow(job_id, block_ms=1000, deadline=time.monotonic() + 30)
    events = [event for _event_id, event in filter(None, follow)]
    assert events and event_state(events[-1]) in TERMINAL_STATES, events
    return events


def states(events: list[dict[str, Any]]) -> list[State]:
    return [event_state(event) for event in events]


def kept(queue, job_id: str) -> list[State]:
    """The states of the events the job's stream holds now."""
    return states([event for _, event in queue.store.events(job_id)])


def test_a_job_that_returns_succeeds_with_its_result(queue, worker):
    job_id = run_job(queue, "add", 2, 3)

    record = ended(queue, job_id)

    assert (record.state, record.result, record.attempts, record.error) == (
        State.SUCCEEDED,
        5,
        1,
        None,
    )
    assert record.started_at <= record.finished_at
    # Its history went with its end: the outcome is what is kept.
    assert kept(queue, job_id) == [State.SUCCEEDED]


def test_the_log_does_not_say_a_result_was_discarded(queue, worker, caplog):
    # Dramatiq warns so of every result unless its own Results middleware runs.
    ended(queue, run_job(queue, "add", 2, 3))
    logging.getLogger("dramatiq.worker.WorkerThread").warning("Message %s was skipped.", "m")

    assert [record.getMessage() for record in caplog.records] == ["Message m was skipped."]


class Recording(Middleware):
    def __init__(self) -> None:
        self.heard: list = []

    def before_process_message(self, broker, message) -> None:
        self.heard.append("before")

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        self.heard.append(("after", result))

    def after_ack(self, broker, message) -> None:
        self.heard.append("ack")


class Broken(Middleware):
    def before_process_message(self, broker, message) -> None:
        raise RuntimeError("broken")


def test_middleware_added_to_a_running_worker_hears_its_hooks(queue, worker, caplog):
    ended(queue, run_job(queue, "add", 1, 1))
    recording = Recording()
    queue.broker.add_middleware(Broken())
    queue.broker.add_middleware(recording)

    record = ended(queue, run_job(queue, "add", 2, 3))

    wait_for(lambda: "ack" in recording.heard, what="the ack")
    assert recording.heard == ["before", ("after", 5), "ack"]
    # As dramatiq has it: a failing hook is logged, and the job goes on.
    assert record.result == 5
    assert "Unexpected failure in before_process_message of" in caplog.text


def test_a_failing_job_is_retried_then_dead(queue, worker):
    job_id = run_job(queue, "fail", message="boom", options={"max_retries": 1})
    events = followed(queue, job_id)

    record = ended(queue, job_id)

    assert (record.state, record.attempts) == (State.DEAD, 2)
    assert (record.error.type, record.error.message) == ("RuntimeError", "boom")
    # Where it was raised, as the worker's log would have shown it.
    assert "in fail\n    raise RuntimeError(message)" in record.error.traceback
    assert record.error.traceback.endswith("RuntimeError: boom\n")
    # A start is written with the next batch of acks: an attempt that ends
    # as soon as it starts may be written with its start, in one call that
    # keeps only the end's event.
    assert states(events) in (
        [State.QUEUED, State.RUNNING, State.RETRYING, State.RUNNING, State.DEAD],
        [State.QUEUED, State.RUNNING, State.RETRYING, State.DEAD],
    )
    dead_letters = queue.broker.client.hkeys("dramatiq:default.XQ.msgs")
    assert [key.decode() for key in dead_letters] == [record.redis_message_id]


def test_an_error_the_job_declares_permanent_fails_it_at_once(queue, worker):
    job_id = run_job(queue, "fail", permanent=True)

    record = ended(queue, job_id)

    assert (record.state, record.attempts, record.error.type) == (State.FAILED, 1, "PermanentError")


def test_a_job_past_its_time_limit_is_stopped_and_the_next_one_on_its_thread_runs(queue, worker):
    slow = run_job(queue, "count_slowly", to=100, interval=0.05, options={"time_limit": 0.5})

    record = ended(queue, slow)

    assert (record.state, record.attempts, record.error.type) == (
        State.DEAD,
        1,
        "TimeLimitExceeded",
    )
    # Stopped at its limit, not run to its end.
    assert record.progress.value < 0.5
    # The worker's threads go on with other jobs, none of them interrupted.
    after = [run_job(queue, "count_slowly", to=3, interval=0.2) for _ in range(4)]
    assert [ended(queue, job_id).state for job_id in after] == [State.SUCCEEDED] * 4


def test_progress_reports_are_kept_and_recorded_as_progress_events(queue, worker):
    job_id = run_job(queue, "count_slowly", to=2, interval=0.2)
    events = followed(queue, job_id)

    record = ended(queue, job_id)

    assert record.progress == Progress(value=1.0, message="counted 2 of 2")
    kinds = [event_kind(event) for event in events]
    assert kinds == ["state", "state", "progress", "progress", "state"]


def test_a_job_reporting_in_a_tight_loop_does_not_flood_redis(queue, worker):
    # As tight as a job may ask for: a report every 10 ms, for 3 s.
    steps = 300
    job_id = run_job(queue, "count_slowly", to=steps, interval=0.01)
    events = followed(queue, job_id)

    record = ended(queue, job_id)

    # Written far fewer times than reported, and the last report is kept.
    written = sum(event_kind(event) == "progress" for event in events)
    # At most one write per 100 ms (about 30 in 3 s, not 300), however long the run took.
    ran_ms = record.finished_at - record.started_at
    assert 1 <= written <= ran_ms // 100 + 1
    assert record.progress == Progress(value=1.0, message=f"counted {steps} of {steps}")
    # A client following it saw the last report, in a progress event or with the end.
    assert [event["progress"] for event in events if "progress" in event][-1] == (
        record.progress.model_dump()
    )


def test_cancelling_a_running_job_interrupts_it_and_keeps_it_out_of_dead_letters(queue, worker):
    job_id = run_job(queue, "count_slowly", to=600, interval=0.05)
    wait_for(lambda: queue.store.get(job_id).state is State.RUNNING, what="the job to start")

    assert queue.store.write(job_id, lifecycle.cancel())[:2] == (True, State.RUNNING)

    record = ended(queue, job_id)
    assert record.state is State.CANCELLED
    # The thread stopped: no progress after the cancellation.
    wait_for(lambda: queue.broker.client.llen("dramatiq:default") == 0, what="the queue to drain")
    last = queue.store.events(job_id)[-1][1]
    assert event_state(last) is State.CANCELLED
    assert queue.broker.client.zcard("dramatiq:default.XQ") == 0


def test_a_worker_started_after_another_stopped_still_listens_for_cancellations(queue, caplog):
    first = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    first.start()
    first.stop()
    wait_for(
        lambda: not any(t.name == "cancellations" for t in threading.enumerate()),
        what="the first worker's cancellation listener to end",
    )
    # The same process, the same broker: the next worker.
    worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        # Its listener subscribed (the first's has ended): a cancellation sent now reaches it.
        channel = queue.store.keys.cancellations
        wait_for(
            lambda: queue.store.client.pubsub_numsub(channel)[0][1] == 1,
            what="the worker's cancellation listener to subscribe",
        )
        # Asleep until long after the cancellation: only the listener can interrupt it then.
        job_id = run_job(queue, "count_slowly", to=2, interval=2)
        wait_for(lambda: queue.store.get(job_id).state is State.RUNNING, what="the job to start")
        with caplog.at_level(logging.INFO, logger="actors.middleware.cancellation"):
            queue.store.write(job_id, lifecycle.cancel())
            wait_for(
                lambda: f"Cancelling job {job_id}." in caplog.messages,
                what="the worker to interrupt the job",
            )
    finally:
        worker.stop()


def test_a_worker_thread_starts_no_thread_while_a_cancellation_may_be_raised_in_it(
    queue, monkeypatch
):
    # A thread started by one that a cancellation is raised into may die
    # before it runs, and its starter wait for it for good: a worker thread,
    # interruptible from the moment it takes a job up, must start none.
    started_by = []
    start = threading.Thread.start

    def recorded_start(thread):
        started_by.append(threading.current_thread())
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", recorded_start)
    worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        for n in range(3):
            assert ended(queue, run_job(queue, "add", n, 1)).result == n + 1
    finally:
        worker.stop()

    assert [t for t in started_by if isinstance(t, dramatiq.worker.WorkerThread)] == []


def test_a_job_cancelled_while_queued_never_runs(queue):
    job_id = run_job(queue, "add", 1, 1)
    queue.store.write(job_id, lifecycle.cancel())
    after = run_job(queue, "add", 2, 2)

    # A worker started only now, with one thread: the cancelled job's turn comes first.
    worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        assert ended(queue, after).result == 4
    finally:
        worker.stop()

    record = queue.store.get(job_id)
    assert (record.state, record.started_at, record.attempts) == (State.CANCELLED, None, 0)


def test_a_result_that_is_not_json_is_kept_as_its_repr(queue, worker):
    job_id = run_job(queue, "add", 1e308, 1e308)

    assert ended(queue, job_id).result == "inf"


def test_a_dead_job_retried_runs_again_under_the_same_id(queue, worker):
    job_id = run_job(queue, "fail", options={"max_retries": 0})
    assert ended(queue, job_id).state is State.DEAD

    assert retry(queue, job_id)[:2] == (True, State.DEAD)

    record = ended(queue, job_id)
    assert record.state is State.DEAD
    # Each run counts an attempt: it ran again.
    assert record.attempts == 2
    # Its earlier message left the dead letters when it was retried: one remains.
    assert queue.broker.client.zcard("dramatiq:default.XQ") == 1


@pytest.mark.parametrize("state", [State.SUCCEEDED, State.CANCELLED])
def test_a_message_delivered_again_does_not_rerun_an_ended_job(queue, worker, state):
    job_id = run_job(queue, "add", 1, 2)
    if state is State.CANCELLED:
        queue.store.write(job_id, lifecycle.cancel())
    before = ended(queue, job_id)
    message = queue.actors["add"].message(1, 2).copy(message_id=job_id)

    queue.broker.enqueue(message)
    wait_for(lambda: queue.broker.client.hlen("dramatiq:default.msgs") == 0, what="the message")

    assert queue.store.get(job_id) == before


def test_a_job_waiting_for_a_thread_reads_queued_until_one_starts_it(queue):
    worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        busy = run_job(queue, "count_slowly", to=4, interval=0.25)
        wait_for(lambda: queue.store.get(busy).state is State.RUNNING, what="the first job")
        waiting = run_job(queue, "add", a=1, b=2)
        # The worker's only thread is busy with a long job: the second job is
        # queued, and left in the queue for a worker that has a free thread.
        for _ in range(5):
            record = queue.store.get(waiting)
            assert (record.state, record.started_at, record.worker_name) == (
                State.QUEUED,
                None,
                None,
            )
            time.sleep(0.1)
        first, second = ended(queue, busy), ended(queue, waiting)
    finally:
        worker.stop()
    assert first.worker_name == second.worker_name == queue.broker.worker_name
    # Started when the thread took it up, once the first job had ended.
    assert second.started_at >= first.finished_at
