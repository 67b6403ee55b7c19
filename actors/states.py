"""A job's states, and which state may follow which: the table every change is checked against.

The moves that change a state are the lifecycle's (``lifecycle.py``); the
store's scripts refuse any change this table does not allow.

The client writes :class:`State` again (``clients/python/src/jobqueue_client/
models.py``), on purpose: it installs with pip on its own and never imports
the service. ``tests/unit/test_client_models.py`` fails until both agree.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Every state a job can be in, in the order a job usually passes through them."""

    #: A step of a workflow, waiting for the steps before it to end.
    WAITING = "waiting"
    QUEUED = "queued"
    DELAYED = "delayed"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"


#: Which state may follow which: the one table every change is checked against.
TRANSITIONS: dict[State, frozenset[State]] = {
    # QUEUED: the steps before it ended; FAILED: what they handed it is too large.
    State.WAITING: frozenset({State.QUEUED, State.CANCELLED, State.FAILED}),
    # DEAD: too old to run (dramatiq's AgeLimit). QUEUED: a worker gives back
    # the attempt it reserved (the job waits for its limits).
    State.QUEUED: frozenset({State.QUEUED, State.RUNNING, State.CANCELLED, State.DEAD}),
    State.DELAYED: frozenset({State.RUNNING, State.CANCELLED, State.DEAD}),
    # RUNNING again: a progress report, or a run after the worker died.
    State.RUNNING: frozenset(
        {
            State.RUNNING,
            State.SUCCEEDED,
            State.RETRYING,
            State.FAILED,
            State.DEAD,
            State.CANCELLED,
        }
    ),
    State.RETRYING: frozenset({State.RUNNING, State.CANCELLED, State.DEAD}),
    # Nothing follows: a duplicate delivery must not run a job twice, and a
    # cancelled job stays cancelled.
    State.SUCCEEDED: frozenset(),
    State.CANCELLED: frozenset(),
    # QUEUED: retried over HTTP; RUNNING: requeued from the dashboard;
    # DEAD: requeued, and then too old to run.
    State.FAILED: frozenset({State.QUEUED, State.RUNNING, State.DEAD}),
    State.DEAD: frozenset({State.QUEUED, State.RUNNING, State.DEAD}),
}

#: States after which nothing more happens to a job unless someone retries it.
TERMINAL_STATES = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED, State.DEAD})

#: States in which a job waits to run: for a worker, for its eta, or for the steps before it.
PENDING_STATES = frozenset({State.WAITING, State.QUEUED, State.DELAYED})


_SOURCES = {
    state: frozenset(source for source, targets in TRANSITIONS.items() if state in targets)
    for state in State
}


def sources(state: State) -> frozenset[State]:
    """The states ``state`` may follow."""
    return _SOURCES[state]


#: The states a job may start (or run again) from.
STARTABLE_STATES = _SOURCES[State.RUNNING]
