"""The lifecycle's table and decisions, without Redis: what each operation decides."""

from __future__ import annotations

import dramatiq
import pytest

from actors import lifecycle
from actors.job_request import JobOptions, JobRequest
from actors.states import TERMINAL_STATES, TRANSITIONS, State


def test_the_table_names_every_state_and_only_retried_jobs_leave_an_end():
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.SUCCEEDED] == TRANSITIONS[State.CANCELLED] == frozenset()
    for state in TERMINAL_STATES - {State.SUCCEEDED, State.CANCELLED}:
        assert State.QUEUED in TRANSITIONS[state], state
    # Whatever has not ended may be cancelled.
    for state in set(State) - TERMINAL_STATES:
        assert State.CANCELLED in TRANSITIONS[state], state


@pytest.mark.parametrize(
    ("transition", "allowed_from"),
    [
        (
            lifecycle.cancel(),
            {State.WAITING, State.QUEUED, State.DELAYED, State.RUNNING, State.RETRYING},
        ),
        (lifecycle.retry(), {State.FAILED, State.DEAD}),
        (lifecycle.report_progress(0.5, "half"), {State.RUNNING}),
        (
            lifecycle.finish(exception=None, retried=False, permanent=False),
            {State.RUNNING},
        ),
    ],
    ids=["cancel", "retry", "progress", "finish"],
)
def test_each_operation_moves_only_from_where_the_table_allows(transition, allowed_from):
    assert transition.allowed_from == allowed_from
    assert all(transition.to in TRANSITIONS[state] for state in allowed_from)


def test_a_move_the_table_forbids_is_refused():
    with pytest.raises(ValueError, match="may not follow"):
        lifecycle._move(State.QUEUED, only_from=frozenset({State.SUCCEEDED}))


@pytest.mark.parametrize(
    ("exception", "retried", "permanent", "state"),
    [
        (None, False, False, State.SUCCEEDED),
        (RuntimeError("x"), True, False, State.RETRYING),
        (RuntimeError("x"), False, True, State.FAILED),
        (RuntimeError("x"), False, False, State.DEAD),
        (lifecycle.JobCancelled(), False, True, State.CANCELLED),
    ],
)
def test_finish_decides_the_state_from_dramatiq_s_outcome(exception, retried, permanent, state):
    transition = lifecycle.finish(
        result=3, exception=exception, retried=retried, permanent=permanent
    )

    assert transition.to is state
    assert ("finished_at" in transition.fields) == (state in TERMINAL_STATES)
    assert transition.ends == (state in TERMINAL_STATES)


def test_a_result_that_is_not_json_is_recorded_as_its_repr():
    transition = lifecycle.finish(
        result=float("nan"), exception=None, retried=False, permanent=False
    )
    assert transition.fields["result"] == "nan"


def test_a_cancellation_is_announced_and_ends_the_job_when_it_is_decided():
    transition = lifecycle.cancel()

    assert transition.announce and transition.ends
    assert transition.fields["finished_at"] == transition.at
    assert transition.changes()["updated_at"] == transition.at


def test_events_tell_what_happened_not_what_the_job_is():
    message = dramatiq.Message(
        queue_name="default-high",
        actor_name="add-high",
        args=(1, 2),
        kwargs={},
        options={"retries": 1, "redis_message_id": "r1"},
    )
    start = lifecycle.start_unrecorded(message)

    assert start.to is State.RUNNING and start.create_missing and start.begins
    assert start.fields["actor"] == "add"
    # The store adds the attempt it numbers.
    assert set(start.event_fields()) == {"started_at", "worker_name", "error"}
    assert lifecycle.report_progress(1, "done").event_fields() == ["progress"]


@pytest.mark.parametrize(("delay", "state"), [(0, State.QUEUED), (2.5, State.DELAYED)])
def test_a_submitted_job_waits_queued_or_delayed_until_its_eta(delay, state):
    request = JobRequest(actor="add", args=[1, 2], options=JobOptions(delay=delay))

    record = lifecycle.submit(request, job_id="j1", queue="default")

    assert (record.state, record.attempts, record.eta - record.enqueued_at) == (
        state,
        0,
        int(delay * 1000),
    )
    # Its first event tells its state when it was enqueued.
    assert record.updated_at == record.enqueued_at
