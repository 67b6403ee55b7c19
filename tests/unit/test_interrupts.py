"""An interrupt meant for a job reaches the thread running it, and never another thread.

Python gives the ident of a thread that ended to the next thread it starts.
A cancel or a lost attempt aimed by ident at a thread that had ended (or
gone on to another job) landed in whatever ran under that ident: another
job, or a thread still starting, which then hung its starter in
``Thread.start()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.stub import StubBroker

from actors.attempt import Attempt
from actors.middleware.cancellation import Cancellation
from actors.middleware.time_limit import TimeLimit


class Interrupted(Exception):
    pass


class Runner(threading.Thread):
    """A thread that calls ``begin``, then runs until :meth:`finish`, and notes any interrupt."""

    def __init__(self, begin: Callable[[], None] = lambda: None):
        super().__init__(daemon=True)
        self.begin = begin
        self.ready = threading.Event()
        self._go = threading.Event()
        self.interrupted = False

    def run(self) -> None:
        try:
            self.begin()
            self.ready.set()
            while not self._go.wait(0.01):
                pass
            for _ in range(1000):
                pass  # an interrupt raised before _go was set is raised here at the latest
        except BaseException:  # Interrupted, or a cancel's JobCancelled
            self.interrupted = True

    def started(self) -> Runner:
        self.start()
        self.ready.wait()
        return self

    def finish(self) -> bool:
        """Let the thread end; whether it was interrupted."""
        self._go.set()
        self.join()
        return self.interrupted


def under_the_ident_of(ended: threading.Thread) -> Runner:
    """A running thread that Python gave the ident of ``ended``."""
    for _ in range(100):
        runner = Runner().started()
        if runner.ident == ended.ident:
            return runner
        runner.finish()
    raise AssertionError("Python gave no new thread the ended thread's ident")


def test_an_attempt_whose_thread_ended_interrupts_no_thread_that_has_its_ident_now():
    attempt = Attempt(number=1)
    ended = Runner(attempt.attach_thread).started()  # it ends inside the attempt
    assert not ended.finish()
    runner = under_the_ident_of(ended)

    interrupted = attempt.interrupt(Interrupted)

    assert not runner.finish()
    assert not interrupted


def test_an_attempt_interrupts_the_thread_running_it():
    attempt = Attempt(number=1)
    runner = Runner(attempt.attach_thread).started()

    assert attempt.interrupt(Interrupted)

    assert runner.finish()


def test_an_attempt_its_thread_left_does_not_interrupt_the_threads_next_attempt():
    # The thread left the first attempt without detaching it, as when an
    # interrupt cut the first attempt's end short.
    first, second = Attempt(number=1), Attempt(number=1)

    def run_both() -> None:
        first.attach_thread()
        second.attach_thread()

    runner = Runner(run_both).started()

    interrupted = first.interrupt(Interrupted)

    assert not runner.finish()
    assert not interrupted


def test_a_cancel_of_a_job_whose_thread_ended_interrupts_no_thread_that_has_its_ident_now():
    broker = StubBroker()
    cancellation = Cancellation(store=None)

    @dramatiq.actor(broker=broker)
    def count() -> None: ...

    message = count.message()
    ended = Runner(lambda: cancellation.before_process_message(broker, message)).started()
    assert not ended.finish()
    runner = under_the_ident_of(ended)

    interrupted = cancellation.cancel_if_running(message.message_id)

    assert not runner.finish()
    assert not interrupted  # and the job is remembered as cancelled, should it come


def limited_job() -> tuple[dramatiq.Broker, TimeLimit, dramatiq.Actor]:
    """A stub broker, a time limit of 1 ms, and an actor it applies to."""
    broker = StubBroker()
    limit = TimeLimit(time_limit=1)

    @dramatiq.actor(broker=broker)
    def count() -> None: ...

    return broker, limit, count


def test_a_job_past_its_time_limit_is_interrupted_in_its_thread():
    broker, limit, count = limited_job()
    message = count.message()
    runner = Runner(lambda: limit.before_process_message(broker, message)).started()
    time.sleep(0.01)

    limit.manager.interrupt(limit.manager.due(time.monotonic()))

    assert runner.finish()


def test_a_job_that_ends_as_its_time_runs_out_does_not_have_its_threads_next_job_interrupted():
    broker, limit, count = limited_job()
    first, second = count.message(), count.message_with_options(time_limit=60_000)
    found, moved_on = threading.Event(), threading.Event()

    def run_first_then_second() -> None:
        limit.before_process_message(broker, first)
        found.wait()
        limit.after_process_message(broker, first)
        limit.before_process_message(broker, second)
        moved_on.set()

    runner = Runner(run_first_then_second)
    runner.start()
    time.sleep(0.01)
    # The checker finds the first job past its time, as its thread ends it.
    expired = limit.manager.due(time.monotonic())
    assert expired == [first.message_id]
    found.set()
    moved_on.wait()

    limit.manager.interrupt(expired)

    assert not runner.finish()


def test_a_time_limit_left_by_a_thread_that_ended_interrupts_no_thread_that_has_its_ident_now():
    broker, limit, count = limited_job()
    message = count.message()
    ended = Runner(lambda: limit.before_process_message(broker, message)).started()
    assert not ended.finish()  # it ends inside the job, its deadline left behind
    runner = under_the_ident_of(ended)
    time.sleep(0.01)

    limit.manager.interrupt(limit.manager.due(time.monotonic()))

    assert not runner.finish()
