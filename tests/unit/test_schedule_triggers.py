"""Reading schedules' periods, cron expressions and time zones, and placing ticks in real time."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from actors import cron, every
from actors.schedules.definition import ScheduleDefinition
from actors.schedules.triggers import Cron, Every, InvalidTrigger, period_ms, ticks

BERLIN = ZoneInfo("Europe/Berlin")


def at(*fields: int, fold: int = 0) -> int:
    return int(datetime(*fields, tzinfo=BERLIN, fold=fold).timestamp() * 1000)


@pytest.mark.parametrize(
    ("period", "ms"), [("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), (90, 90_000)]
)
def test_a_period_is_read_as_people_write_it(period, ms):
    assert period_ms(period) == ms


@pytest.mark.parametrize(
    "period",
    ["5 minutes", "0s", "500ms", "", "400d", True, float("inf"), 1e308, "9" * 400 + "s"],
)
def test_a_period_that_is_no_period_or_out_of_bounds_is_refused(period):
    with pytest.raises(InvalidTrigger):
        period_ms(period)


def test_an_interval_counts_from_the_epoch_whoever_asks():
    assert Every(300_000).after(at(2026, 6, 1, 12, 3)) == at(2026, 6, 1, 12, 5)
    assert Every(300_000).after(at(2026, 6, 1, 12, 5)) == at(2026, 6, 1, 12, 10)


def test_cron_skipped_wall_times_fire_at_the_end_of_the_gap_repeated_ones_once():
    spring = Cron("30 2 * * *", "Europe/Berlin")
    assert spring.after(at(2026, 3, 29, 0, 0)) == at(2026, 3, 29, 3, 0)
    autumn = Cron("30 2 * * *", "Europe/Berlin")
    first = autumn.after(at(2026, 10, 25, 0, 0))
    assert first == at(2026, 10, 25, 2, 30, fold=0)
    assert autumn.after(first) == at(2026, 10, 26, 2, 30)


@pytest.mark.parametrize(
    ("tz", "change"),
    [
        ("Europe/Berlin", (2026, 3, 29)),
        ("Europe/Berlin", (2026, 10, 25)),
        ("America/New_York", (2026, 11, 1)),
        # Half an hour skipped and repeated, in the southern spring and autumn.
        ("Australia/Lord_Howe", (2026, 10, 4)),
        ("Australia/Lord_Howe", (2026, 4, 5)),
    ],
)
@pytest.mark.parametrize(
    "expression",
    ["*/7 * * * *", "30 2 * * *", "15 1-3 * * *", "*/20 2 * * * 10,40", "0 0 L * *"],
)
def test_ticks_are_counted_and_the_last_found_as_listing_them_would(tz, change, expression):
    trigger = Cron(expression, tz)
    around = int(datetime(*change, 2, tzinfo=ZoneInfo(tz)).timestamp() * 1000)
    windows = random.Random(f"{tz}{change}{expression}")
    for _ in range(20):
        start = around + windows.randint(-6, 6) * 1_800_000 + windows.randint(0, 1_799_999)
        end = start + windows.randint(0, 8 * 3_600_000)
        listed = list(ticks(trigger, start, end))
        assert (trigger.count(start, end), trigger.last(start, end)) == (
            len(listed),
            listed[-1] if listed else None,
        )


def test_a_fortnight_of_seconds_is_counted_across_a_skipped_hour():
    second = Cron("* * * * * *", "Europe/Berlin")
    start, end = at(2026, 3, 22), at(2026, 4, 5)

    # 14 days of seconds, less the hour skipped, whose times fire as one.
    assert second.count(start, end) == 14 * 86_400 - 3_600 + 1
    assert second.last(start, end) == end
    assert second.count(at(2026, 3, 29, 1, 59, 59), at(2026, 3, 29, 3, 0, 0)) == 2


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"cron": "61 * * * *"}, "no cron expression"),
        ({"cron": "0 3 * * *", "tz": "Mars/Olympus"}, "no IANA time zone"),
        ({"every": "5m", "cron": "0 3 * * *"}, "either 'every' or 'cron'"),
        ({}, "either 'every' or 'cron'"),
        ({"every": "soon"}, "no period"),
        ({"every": "5m", "misfire": "sometimes"}, "misfire"),
    ],
)
def test_a_schedule_that_cannot_be_read_says_why(fields, complaint):
    with pytest.raises(ValidationError, match=complaint):
        ScheduleDefinition.model_validate({"actor": "add", **fields})


def test_a_bad_declaration_in_code_fails_at_import():
    with pytest.raises(ValidationError, match="no cron expression"):
        cron("every day")
    assert every("5m", kwargs={"a": 1}).definition("add").kwargs == {"a": 1}


def test_a_window_and_run_limit_are_declared_in_code_and_checked_at_import():
    start = datetime(2027, 1, 1, 9, 30, tzinfo=BERLIN)
    declared = every("1h", start_at=start, max_runs=24).definition("add")
    # Counted from its start, not from the epoch.
    assert declared.trigger().after(0) == at(2027, 1, 1, 9, 30)
    assert declared.max_runs == 24
    with pytest.raises(ValidationError, match="end_at must come after start_at"):
        every("1h", start_at=start, end_at=start)
    with pytest.raises(ValidationError, match="timezone"):
        cron("0 3 * * *", end_at=datetime(2027, 1, 1))
