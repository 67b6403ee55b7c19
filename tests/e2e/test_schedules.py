"""Schedules on the real stack: what one shows of its jobs' options; a per-second schedule
that two workers fire while one is killed, and that outlives a restart of the whole stack."""

from __future__ import annotations

import itertools
import os
import signal
import time

import pytest

import actors
from actors.schedules.firing import tick_job_id
from actors.schedules.store import ScheduleStore
from tests.support import wait_for

from .conftest import stack_settings, start_stack
from .test_healing import victim


@pytest.fixture
def running(tmp_path):
    # A SIGKILLed worker's running job comes back once its heartbeat is this old.
    running = start_stack(tmp_path, stack_settings(workers=2, heartbeat_timeout_ms=3_000))
    try:
        yield running
    finally:
        running.stack.stop()


def test_a_schedule_shows_the_options_its_jobs_run_with_as_their_records_do(stack):
    actors = {actor["name"]: actor for actor in stack.get("/actors").json()["actors"]}
    body = {"name": "optioned", "actor": "fail", "every": "1h", "options": {"time_limit": 2.5}}
    created = stack.post("/schedules", json=body)
    assert created.status_code == 201, created.text
    try:
        # fail declares its retries; the schedule its time limit; nothing is null.
        applies = {
            "delay": 0,
            "priority": "normal",
            "max_retries": actors["fail"]["max_retries"],
            "time_limit": 2.5,
        }
        listed = stack.get("/schedules").json()["schedules"]
        shown = [created.json(), stack.get("/schedules/optioned").json()]
        shown += [view for view in listed if view["name"] == "optioned"]
        assert [view["options"] for view in shown] == [applies] * 3
        declared = {"delay": 0, "time_limit": 2.5, "priority": "normal"}
        assert [view["declared_options"] for view in shown] == [declared] * 3
        ran = stack.post("/schedules/optioned/run")
        assert stack.job(ran.json()["id"])["options"] == applies

        # A PUT of what it declares changes nothing.
        definition = {"actor": "fail", "every": "1h", "options": declared}
        replaced = stack.http.put(f"{stack.url}/schedules/optioned", json=definition, timeout=30)
        assert replaced.status_code == 200, replaced.text
        assert (replaced.json()["options"], replaced.json()["declared_options"]) == (
            applies,
            declared,
        )
    finally:
        stack.delete("/schedules/optioned")


def test_killing_a_worker_loses_no_tick_duplicates_none_and_a_restart_keeps_it(running, tmp_path):
    queue = actors.connect(running.settings.queue_config())
    schedules = ScheduleStore(queue.store)
    # skip: a tick not fired within a minute would be missed, and counted.
    body = {"name": "tick", "actor": "add", "args": [1, 2], "every": "1s", "misfire": "skip"}
    assert running.post("/schedules", json=body).status_code == 201
    wait_for(lambda: schedules.get("tick").fired >= 4, timeout=30, what="ticks before the kill")

    os.kill(victim(running, "worker child"), signal.SIGKILL)
    killed_at = int(time.time() * 1000)
    wait_for(
        lambda: (schedules.get("tick").last_at or 0) >= killed_at + 8_000,
        timeout=60,
        what="ticks after the kill",
    )
    assert running.post("/schedules/tick/pause").status_code == 200

    schedule = schedules.get("tick")
    ticks = sorted(e.tick for e in schedules.history("tick", 1000) if e.kind == "fired")
    # Every second from the first tick to the last, each once, none missed.
    assert [later - earlier for earlier, later in itertools.pairwise(ticks)] == [1000] * (
        len(ticks) - 1
    )
    assert (schedule.fired, schedule.missed) == (len(ticks), 0)
    assert ticks[0] < killed_at < ticks[-1]
    # One job per tick, under the tick's id, and no other: each runs to its end.
    records, _ = queue.store.list(actor="add", limit=1000)
    assert sorted(record.id for record in records) == sorted(
        tick_job_id("tick", tick) for tick in ticks
    )
    for record in records:
        assert running.ended(record.id, timeout=60)["result"] == 3
    print(f"{len(ticks)} ticks, {len(ticks) - sum(t < killed_at for t in ticks)} after the kill")

    # The whole stack stops and starts again: the schedule is there, with its history.
    running.stack.stop()
    again = start_stack(tmp_path, running.settings)
    try:
        found = again.get("/schedules/tick").json()
        assert (found["fired"], found["paused"]) == (len(ticks), True)
        assert len([e for e in found["history"] if e["kind"] == "fired"]) == min(len(ticks), 50)
        assert again.post("/schedules/tick/resume").status_code == 200
        wait_for(lambda: again.get("/schedules/tick").json()["fired"] >= len(ticks) + 2)
    finally:
        again.stack.stop()
