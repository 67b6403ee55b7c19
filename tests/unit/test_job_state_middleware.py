"""A job's end is decided even when a cancellation cuts its start short.

A cancel raised into a worker thread can land anywhere in the job-state
middleware's ``before_process_message``, before the attempt's progress writer
exists; the end must still be decided, and carry no progress of the job the
thread ran before.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from actors.attempt import Attempt, JobMessage
from actors.lifecycle import JobCancelled
from actors.middleware.job_state import JobState, ProgressWriter
from actors.record import Progress
from actors.states import State


def cut_short_message(broker: StubBroker) -> JobMessage:
    if "count" not in broker.actors:

        @dramatiq.actor(broker=broker)
        def count() -> None: ...

    return JobMessage(broker.get_actor("count").message(), Attempt(number=2))


def test_an_end_is_decided_for_a_start_cut_short_by_a_cancel():
    broker = StubBroker()
    middleware = JobState(store=None)
    message = cut_short_message(broker)

    middleware.after_process_message(broker, message, exception=JobCancelled())

    ending = message.attempt.ending
    assert ending is not None
    assert ending.to is State.CANCELLED
    assert "progress" not in ending.fields


def test_a_cut_short_start_carries_no_progress_of_the_threads_last_job():
    broker = StubBroker()
    middleware = JobState(store=None)
    # The thread's earlier job ended with a report held back for its end.
    earlier_message = cut_short_message(broker)
    earlier = ProgressWriter(None, earlier_message.message_id, 2, 100)
    earlier.held = Progress(value=0.5, message="half of the earlier job")
    middleware._reports.writer = earlier
    middleware.after_process_message(broker, earlier_message, result=None)
    assert earlier_message.attempt.ending.fields["progress"]["value"] == 0.5
    message = cut_short_message(broker)

    middleware.after_process_message(broker, message, exception=JobCancelled())

    assert "progress" not in message.attempt.ending.fields
