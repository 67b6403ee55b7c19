"""Schedules fired by firers on an injected clock, against a real Redis.

The clock is the test's: time moves as the test says, so a day of ticks or a
two-hour outage takes a second, and each firer sees what it would see live.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import dramatiq
import pytest
from prometheus_client import REGISTRY

import actors
from actors import cron, every
from actors.schedules.definition import Misfire, ScheduleDefinition
from actors.schedules.firing import tick_job_id
from actors.schedules.middleware import Firing
from actors.schedules.operations import Schedules
from actors.schedules.store import Saved
from actors.states import State
from tests.support import ended, wait_for

BERLIN = ZoneInfo("Europe/Berlin")
MINUTE = 60_000


class Clock:
    """A clock the test moves (seconds since the epoch, as ``time.time``)."""

    def __init__(self, at: datetime):
        self.ms = int(at.timestamp() * 1000)

    def __call__(self) -> float:
        return self.ms / 1000

    def advance(self, ms: int = 1000) -> None:
        self.ms += ms


def berlin(*fields: int) -> int:
    return int(datetime(*fields, tzinfo=BERLIN).timestamp() * 1000)


def fired_ticks(schedules: Schedules, name: str) -> list[int]:
    """The ticks that ran a job, oldest first."""
    return [e.tick for e in reversed(schedules.store.history(name, 10_000)) if e.kind == "fired"]


def run_until(schedules: Schedules, clock: Clock, end: int, step_ms: int = MINUTE) -> int:
    """Move the clock to ``end`` a step at a time, firing at each; the jobs created."""
    created = 0
    while clock.ms < end:
        clock.advance(min(step_ms, end - clock.ms))
        created += schedules.firer.fire_due()
    return created


def counts(name: str) -> tuple[float, ...]:
    """The firing metrics of a schedule: ticks fired, ticks missed, lags observed."""
    return tuple(
        REGISTRY.get_sample_value(metric, {"schedule": name}) or 0
        for metric in (
            "jobqueue_schedule_ticks_fired_total",
            "jobqueue_schedule_ticks_missed_total",
            "jobqueue_schedule_lag_seconds_count",
        )
    )


def schedule(queue, clock, definition: dict, name: str = "s") -> Schedules:
    schedules = Schedules(queue, clock=clock)
    schedules.create(name, adding(**definition))
    return schedules


def adding(**definition) -> ScheduleDefinition:
    """A schedule of the ``add`` job."""
    return ScheduleDefinition.model_validate({"actor": "add", "args": [1, 2], **definition})


def fire_at_once(settings, clock: Clock, ticks: int) -> list[int]:
    """Three firers, each with a Redis connection of its own, fire at each of ``ticks`` at once.

    Returns how many jobs each made.
    """
    firers = [
        Schedules(actors.connect(settings.queue_config()), clock=clock).firer for _ in range(3)
    ]
    created = [0, 0, 0]
    step = threading.Barrier(3, action=clock.advance)

    def fire(index: int) -> None:
        for _ in range(ticks):
            step.wait()
            created[index] += firers[index].fire_due()

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return created


def test_three_firers_make_exactly_one_job_per_tick(settings, queue):
    clock = Clock(datetime(2026, 6, 1, 12, 0, 0, tzinfo=BERLIN))
    start = clock.ms
    schedule(queue, clock, {"args": [1, 2], "every": "1s"})
    created = fire_at_once(settings, clock, 1000)
    assert sum(created) == 1000
    records, _ = queue.store.list(actor="add", limit=2000)
    ticks = [start + second * 1000 for second in range(1, 1001)]
    assert sorted(r.id for r in records) == sorted(tick_job_id("s", tick) for tick in ticks)
    assert queue.broker.client.hlen("dramatiq:default.msgs") == 1000
    stored = Schedules(queue).get("s")
    assert (stored.fired, stored.missed) == (1000, 0)
    assert all(firer_created > 0 for firer_created in created), created  # each raced and won some


def test_a_time_skipped_in_spring_fires_once_at_the_end_of_the_gap(queue):
    clock = Clock(datetime(2026, 3, 28, 0, 0, tzinfo=BERLIN))
    schedules = schedule(queue, clock, {"cron": "30 2 * * *", "tz": "Europe/Berlin"}, "daily")
    schedules.create("gap", adding(cron="0,30 2 * * *", tz="Europe/Berlin"))

    run_until(schedules, clock, berlin(2026, 3, 30, 6, 0))

    # 02:30 does not exist on March 29th: the clock goes from 02:00 to 03:00.
    assert fired_ticks(schedules, "daily") == [
        berlin(2026, 3, 28, 2, 30),
        berlin(2026, 3, 29, 3, 0),
        berlin(2026, 3, 30, 2, 30),
    ]
    # Two times in the gap: one job, at its end.
    assert fired_ticks(schedules, "gap") == [
        berlin(2026, 3, 28, 2, 0),
        berlin(2026, 3, 28, 2, 30),
        berlin(2026, 3, 29, 3, 0),
        berlin(2026, 3, 30, 2, 0),
        berlin(2026, 3, 30, 2, 30),
    ]


def test_a_time_repeated_in_autumn_fires_once_and_intervals_keep_real_time(queue):
    clock = Clock(datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN))
    schedules = schedule(queue, clock, {"cron": "30 2 * * *", "tz": "Europe/Berlin"}, "daily")
    schedules.create("hourly", adding(cron="0 * * * *", tz="Europe/Berlin"))
    schedules.create("every-hour", adding(every="1h"))

    run_until(schedules, clock, berlin(2026, 10, 26, 0, 0))

    # 02:30 happens twice (at 02:30 CEST, and an hour later at 02:30 CET): the first one runs.
    first_pass = int(datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=0).timestamp() * 1000)
    assert fired_ticks(schedules, "daily") == [first_pass]
    # The day has 25 hours. Each wall-clock hour (01:00 to midnight) fires once, 02:00 too...
    hourly = fired_ticks(schedules, "hourly")
    assert [datetime.fromtimestamp(t / 1000, BERLIN).hour for t in hourly] == [*range(1, 24), 0]
    # ... and the interval every 60 minutes of real time: 25 times.
    interval = fired_ticks(schedules, "every-hour")
    assert len(interval) == 25
    assert {later - earlier for earlier, later in itertools.pairwise(interval)} == {3_600_000}


@pytest.mark.parametrize(
    ("misfire", "jobs_after_outage", "missed"),
    [(Misfire.SKIP, 0, 24), (Misfire.RUN_ONCE, 1, 23), (Misfire.RUN_ALL, 12, 12)],
)
def test_after_a_two_hour_outage_the_misfire_policy_decides(
    queue, misfire, jobs_after_outage, missed
):
    clock = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN))
    schedules = schedule(
        queue, clock, {"every": "5m", "misfire": misfire.value, "grace": 3600}, "five"
    )
    assert run_until(schedules, clock, berlin(2026, 6, 1, 12, 30)) == 6
    # Nothing fires for two hours, then a firer comes back 90 seconds after a tick.
    clock.advance(2 * 3600_000 + 90_000)
    counted = counts("five")

    created = schedules.firer.fire_due()

    assert created == jobs_after_outage
    metered = tuple(now - before for now, before in zip(counts("five"), counted, strict=True))
    assert metered == (jobs_after_outage, missed, jobs_after_outage)
    stored = schedules.get("five")
    assert (stored.fired, stored.missed) == (6 + jobs_after_outage, missed)
    [entry] = [e for e in schedules.store.history("five") if e.kind == "missed"]
    assert (entry.count, entry.first) == (missed, berlin(2026, 6, 1, 12, 35))
    # Then on time again, from the next tick.
    assert run_until(schedules, clock, clock.ms + 5 * MINUTE) == 1
    assert fired_ticks(schedules, "five")[-1] == berlin(2026, 6, 1, 14, 35)


@pytest.mark.parametrize(
    ("misfire", "late_jobs", "missed"),
    # Down from 12:00:11 to 14:01:40: on time are the ticks of the last minute (61),
    # late the 7,229 before; run_all runs those of the last hour (3,540 of them).
    [(Misfire.SKIP, 0, 7229), (Misfire.RUN_ONCE, 1, 7228), (Misfire.RUN_ALL, 3540, 3689)],
)
def test_a_per_second_cron_catches_up_on_a_two_hour_outage(queue, misfire, late_jobs, missed):
    clock = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN))
    schedules = schedule(
        queue,
        clock,
        {"cron": "* * * * * *", "tz": "Europe/Berlin", "misfire": misfire.value, "grace": 3600},
    )
    assert run_until(schedules, clock, berlin(2026, 6, 1, 12, 0, 10), step_ms=1000) == 10
    clock.advance(2 * 3600_000 + 90_000)

    # A firing makes a bounded number of jobs; the rest are due at once, for the next.
    created = 0
    while fired := schedules.firer.fire_due():
        created += fired

    assert created == late_jobs + 61
    stored = schedules.get("s")
    assert (stored.fired, stored.missed) == (10 + late_jobs + 61, missed)
    assert stored.next_at == berlin(2026, 6, 1, 14, 1, 41)
    records, _ = queue.store.list(actor="add", limit=5000)
    assert len({record.id for record in records}) == stored.fired


def test_editing_a_schedule_in_code_keeps_its_history_and_fires_no_tick_twice(queue):
    clock = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN))

    def declaring(declared) -> Schedules:
        add = dataclasses.replace(queue.specs["add"], schedule=declared)
        return Schedules(dataclasses.replace(queue, specs={**queue.specs, "add": add}), clock=clock)

    first = declaring(every("5m", args=[1, 2]))
    assert first.declare()["add"] is Saved.CREATED
    run_until(first, clock, berlin(2026, 6, 1, 12, 20))
    before = fired_ticks(first, "add")
    assert len(before) == 4

    # A restart with the same code changes nothing; with new code, the schedule is updated.
    assert declaring(every("5m", args=[1, 2])).declare()["add"] is Saved.UNCHANGED
    edited = declaring(cron("*/10 * * * *", tz="Europe/Berlin", args=[1, 2]))
    assert edited.declare()["add"] is Saved.UPDATED
    run_until(edited, clock, berlin(2026, 6, 1, 12, 40))

    ticks = fired_ticks(edited, "add")
    assert ticks[:4] == before
    assert ticks[4:] == [berlin(2026, 6, 1, 12, 30), berlin(2026, 6, 1, 12, 40)]
    assert edited.get("add").fired == 6
    assert [e.kind for e in edited.store.history("add")][-1:] == ["created"]
    # The code no longer declares it: the schedule goes.
    declaring(None).declare()
    assert edited.store.get("add") is None


def test_a_schedule_declared_in_code_stays_finished_across_restarts_until_its_limit_grows(queue):
    clock = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN))

    def declaring(declared) -> Schedules:
        add = dataclasses.replace(queue.specs["add"], schedule=declared)
        return Schedules(dataclasses.replace(queue, specs={**queue.specs, "add": add}), clock=clock)

    first = declaring(every("1m", args=[1, 2], max_runs=2))
    first.declare()
    assert run_until(first, clock, berlin(2026, 6, 1, 12, 10)) == 2
    assert first.get("add").state == "finished"

    # A restart with the same code leaves it finished; a larger limit runs it again.
    assert declaring(every("1m", args=[1, 2], max_runs=2)).declare()["add"] is Saved.UNCHANGED
    assert run_until(first, clock, berlin(2026, 6, 1, 12, 20)) == 0
    grown = declaring(every("1m", args=[1, 2], max_runs=3))
    assert grown.declare()["add"] is Saved.UPDATED
    assert run_until(grown, clock, berlin(2026, 6, 1, 12, 30)) == 1
    assert fired_ticks(grown, "add") == [
        berlin(2026, 6, 1, 12, 1),
        berlin(2026, 6, 1, 12, 2),
        berlin(2026, 6, 1, 12, 21),
    ]


def test_a_paused_schedule_fires_nothing_and_resumes_from_the_next_tick(queue):
    clock = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN))
    schedules = schedule(queue, clock, {"every": "1m", "misfire": "run_all"})
    schedules.pause("s")
    assert run_until(schedules, clock, berlin(2026, 6, 1, 12, 30)) == 0
    record = schedules.run_now("s")
    assert queue.store.get(record.id).actor == "add"

    schedules.resume("s")

    assert run_until(schedules, clock, berlin(2026, 6, 1, 12, 33)) == 3
    stored = schedules.get("s")
    # The run asked for now is no tick.
    assert (stored.fired, stored.missed, stored.last_at) == (3, 0, berlin(2026, 6, 1, 12, 33))


def test_a_worker_fires_schedules_and_runs_their_jobs(queue):
    schedules = Schedules(queue)
    schedules.create("often", adding(every="1s"))
    queue.broker.add_middleware(Firing(Schedules(queue)))
    worker = dramatiq.Worker(queue.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: schedules.get("often").fired >= 2, what="two ticks fired")
    finally:
        worker.stop()
    record = ended(queue, schedules.get("often").last_job)
    assert (record.state, record.result) == (State.SUCCEEDED, 3)


def test_a_cron_expression_past_its_last_time_finishes_its_schedule(queue):
    clock = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN))
    # 12:05:00 on June 1st 2026, and never again.
    schedules = schedule(queue, clock, {"cron": "5 12 1 6 * 0 2026", "tz": "Europe/Berlin"})

    assert run_until(schedules, clock, berlin(2026, 6, 1, 13, 0)) == 1

    finished = schedules.get("s")
    assert (finished.state, finished.fired, finished.next_runs(5)) == ("finished", 1, [])
    assert [e.kind for e in schedules.store.history("s")][:2] == ["finished", "fired"]
    assert schedules.store.next_tick() is None


def test_three_firers_fire_exactly_max_runs_ticks(settings, queue):
    clock = Clock(datetime(2026, 6, 1, 12, 0, 0, tzinfo=BERLIN))
    schedule(queue, clock, {"every": "1s", "max_runs": 150})
    assert sum(fire_at_once(settings, clock, 200)) == 150
    records, _ = queue.store.list(actor="add", limit=1000)
    assert len(records) == 150
    stored = Schedules(queue).get("s")
    assert (stored.state, stored.fired, stored.runs_left) == ("finished", 150, 0)


def test_no_tick_runs_before_start_at_or_after_end_at(queue):
    clock = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN))
    window = {"start_at": datetime(2026, 6, 1, 12, 10, 30, tzinfo=BERLIN)}
    window["end_at"] = datetime(2026, 6, 1, 12, 20, 30, tzinfo=BERLIN)
    schedules = schedule(queue, clock, {"every": "1m", **window})
    assert schedules.get("s").next_runs(2) == [
        berlin(2026, 6, 1, 12, 10, 30),
        berlin(2026, 6, 1, 12, 11, 30),
    ]

    assert run_until(schedules, clock, berlin(2026, 6, 1, 12, 40)) == 11

    # Counted from its start: 12:10:30, 12:11:30 ... 12:20:30.
    start = berlin(2026, 6, 1, 12, 10, 30)
    assert fired_ticks(schedules, "s") == [start + minute * MINUTE for minute in range(11)]
    # Finished, it stays so when paused and resumed.
    schedules.pause("s")
    assert schedules.resume("s").state == "finished"
    assert run_until(schedules, clock, berlin(2026, 6, 1, 13, 0)) == 0


def test_a_run_limit_stops_a_catch_up_and_a_larger_one_resumes_it(queue):
    clock = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN))
    schedules = schedule(queue, clock, {"every": "5m", "misfire": "run_all", "max_runs": 4})
    assert run_until(schedules, clock, berlin(2026, 6, 1, 12, 10)) == 2
    clock.advance(2 * 3600_000)

    assert schedules.firer.fire_due() == 2
    assert schedules.get("s").state == "finished"

    schedules.replace("s", adding(every="5m", misfire="run_all", max_runs=5))
    assert schedules.get("s").runs_left == 1
    assert run_until(schedules, clock, clock.ms + 30 * MINUTE) == 1
    assert (schedules.get("s").fired, schedules.get("s").state) == (5, "finished")
