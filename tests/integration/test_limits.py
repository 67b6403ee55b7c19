"""Per-job limits held in Redis, with a dramatiq worker in this process."""

from __future__ import annotations

import dataclasses
import logging

import dramatiq
import pytest

import actors
from actors.states import State
from tests.limited_jobs import HOGS_AT_ONCE, TRICKLES_PER_SECOND
from tests.support import ended, run_job, wait_for


@pytest.fixture
def limited(settings):
    """A queue with the limited jobs, and a worker of 4 threads on it."""
    queue = actors.connect(
        dataclasses.replace(
            settings, job_modules=("actors.jobs", "tests.limited_jobs")
        ).queue_config()
    )
    worker = dramatiq.Worker(queue.broker, worker_threads=4, worker_timeout=100)
    worker.start()
    yield queue
    worker.stop()


def most_at_once(records) -> int:
    """The most of these jobs that ran at the same moment, by their start and end times."""
    edges = sorted(
        [(record.started_at, 1) for record in records]
        + [(record.finished_at, -1) for record in records]
    )
    running = most = 0
    for _at, change in edges:
        running += change
        most = max(most, running)
    return most


def test_jobs_over_their_concurrency_wait_as_queued_and_others_run(limited, caplog):
    hogs = [run_job(limited, "hog", seconds=1.0) for _ in range(6)]

    def states():
        return sorted(limited.store.get(job_id).state for job_id in hogs)

    # Two run; the rest wait as queued, holding no thread: another job runs at once.
    wait_for(
        lambda: states() == sorted([State.RUNNING] * 2 + [State.QUEUED] * 4),
        what="two hogs running and four queued",
    )
    added = ended(limited, run_job(limited, "add", 1, 2))
    assert added.state is State.SUCCEEDED
    assert sum(state is State.RUNNING for state in states()) == HOGS_AT_ONCE

    records = [ended(limited, job_id) for job_id in hogs]
    assert {record.state for record in records} == {State.SUCCEEDED}
    # Waiting spent no retry (hog has none) and no attempt.
    assert {record.attempts for record in records} == {1}
    assert most_at_once(records) == HOGS_AT_ONCE
    assert added.finished_at < max(record.started_at for record in records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


#: How long after the limiter lets a message through its thread may write started_at.
ADMISSION_LAG_MS = 100


def test_jobs_over_their_rate_start_when_it_allows(limited):
    count = 3 * TRICKLES_PER_SECOND
    job_ids = [run_job(limited, "trickle") for _ in range(count)]

    records = [ended(limited, job_id) for job_id in job_ids]

    assert {record.state for record in records} == {State.SUCCEEDED}
    assert {record.attempts for record in records} == {1}
    starts = sorted(record.started_at for record in records)
    # Within any second, at most the rate's worth (its burst) started. The
    # limiter counts a start when it lets a message through, a little before
    # the thread that runs it writes started_at: the window allows for that lag.
    for first, start in enumerate(starts):
        in_that_second = [
            later for later in starts[first:] if later < start + 1000 - ADMISSION_LAG_MS
        ]
        assert len(in_that_second) <= TRICKLES_PER_SECOND, starts
