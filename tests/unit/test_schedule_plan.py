"""Which due ticks get a job: the misfire policies, worked out with no clock and no Redis."""

from __future__ import annotations

from actors.schedules.definition import Misfire
from actors.schedules.plan import MAX_JOBS_PER_FIRING, ON_TIME_MS, plan
from actors.schedules.triggers import Cron, Every

SECOND = Every(1000)


def test_a_tick_found_a_little_late_runs_whatever_the_policy():
    for misfire in Misfire:
        planned = plan(SECOND, 1000, 1000 + ON_TIME_MS, misfire, grace_ms=1000)
        assert (planned.missed, len(planned.fire)) == (0, ON_TIME_MS // 1000 + 1)


def test_a_long_catch_up_is_made_a_bounded_firing_at_a_time():
    now = 3_600_000
    planned = plan(SECOND, 1000, now, Misfire.RUN_ALL, grace_ms=3_600_000)

    assert len(planned.fire) == MAX_JOBS_PER_FIRING
    assert planned.fire == list(range(1000, (MAX_JOBS_PER_FIRING + 1) * 1000, 1000))
    # Due again at once, from the first tick left.
    assert planned.next_at == (MAX_JOBS_PER_FIRING + 1) * 1000
    following = plan(SECOND, planned.next_at, now, Misfire.RUN_ALL, grace_ms=3_600_000)
    assert following.fire[0] == planned.next_at


def test_a_week_of_missed_seconds_is_counted_not_listed():
    week = 7 * 24 * 3_600_000
    planned = plan(SECOND, 1000, week, Misfire.RUN_ONCE, grace_ms=1000)

    assert planned.missed + len(planned.fire) == week // 1000
    assert planned.fire[0] == planned.last_missed + 1000
    assert (planned.first_missed, planned.next_at) == (1000, week + 1000)


def test_a_week_of_missed_cron_seconds_is_counted_exactly():
    week = 7 * 24 * 3_600_000
    every_second = Cron("* * * * * *", "UTC")
    for misfire, jobs in ((Misfire.SKIP, 61), (Misfire.RUN_ONCE, 62)):
        planned = plan(every_second, 1000, week, misfire, grace_ms=1000)

        assert (planned.missed + len(planned.fire), len(planned.fire)) == (week // 1000, jobs)
        assert (planned.first_missed, planned.next_at) == (1000, week + 1000)
