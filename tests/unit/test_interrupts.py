"""An interrupt meant for a job reaches the thread running it, and never another thread.

Python gives the ident of a thread that ended to the next thread it starts.
A cancel or a lost attempt aimed by ident at a thread that had ended (or
gone on to another job) landed in whatever ran under that ident: another
job, or a thread still starting, which then hung its starter in
``Thread.start()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.stub import StubBroker

from actors.attempt import Attempt
from actors.middleware.cancellation import Cancellation


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
