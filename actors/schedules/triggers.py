"""When a schedule fires: a fixed interval in real time, or a cron expression in a time zone.

Times are milliseconds since the Unix epoch. A trigger names its ticks
(``after``): the same instants whoever asks, so that every firer agrees on
which tick is due and derives the same job id from it.

Cron expressions are read by croniter on the wall clock of the schedule's
IANA time zone (zoneinfo), and each wall-clock time is then placed on the
real time line. Across the daylight saving changes, a wall-clock time that
does not exist (the hour skipped in spring) fires once, at the first valid
moment after the gap; one that exists twice (the hour repeated in autumn)
fires once, the first time.

Counting the ticks between two times, or finding the last of them, costs
the number of days between, not of ticks (a per-second schedule down for
a week has 604,800): a firer catching up after downtime needs the count,
and at most one tick, of those it missed.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

#: The shortest interval a schedule may have.
MIN_PERIOD_MS = 1000
#: The longest: a year.
MAX_PERIOD_MS = 366 * 24 * 3600 * 1000
#: How many years croniter looks ahead before it gives up: from the epoch past any year
#: a cron expression's seventh field names.
_CRON_YEARS = 200

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PERIOD = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


class InvalidTrigger(ValueError):
    """A period, cron expression or time zone that cannot be read."""


class NoMoreTicks(InvalidTrigger):
    """A trigger has no tick after the time asked: past its end, or its last year gone by."""


def period_ms(period: str | float | timedelta) -> int:
    """``"5m"``, ``"1h30m"``, ``90`` (seconds) or a timedelta, in milliseconds."""
    try:
        ms = _milliseconds(period)
    except OverflowError:
        # Finite seconds (or digits) whose milliseconds no float holds: beyond any bound.
        ms = MAX_PERIOD_MS + 1
    if not MIN_PERIOD_MS <= ms <= MAX_PERIOD_MS:
        raise InvalidTrigger(f"a period must be between 1 second and 366 days, not {period!r}")
    return ms


def _milliseconds(period: str | float | timedelta) -> int:
    if isinstance(period, timedelta):
        ms = int(period.total_seconds() * 1000)
    elif isinstance(period, int | float) and not isinstance(period, bool):
        if not math.isfinite(period):
            raise InvalidTrigger(f"{period!r} is no period")
        ms = int(period * 1000)
    elif isinstance(period, str) and re.fullmatch(f"(?:{_PERIOD.pattern})+", period.strip()):
        ms = sum(
            int(float(number) * _UNITS_MS[unit]) for number, unit in _PERIOD.findall(period.strip())
        )
    else:
        raise InvalidTrigger(
            f"{period!r} is no period: give seconds, or a text such as '30s', '5m', '1h30m', '1d'"
        )
    return ms


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTrigger(f"{name!r} is no IANA time zone (such as 'Europe/Berlin')") from None


@dataclass(frozen=True)
class Every:
    """Every ``period_ms`` of real time, counted from ``anchor_ms`` (the epoch by default).

    Real time: across a daylight saving change an hourly schedule still
    fires every 60 minutes, 23 or 25 times that day. From the epoch, every
    firer and every restart agrees on the ticks: ``every("5m")`` fires at
    :00, :05, :10 ... UTC.
    """

    period_ms: int
    anchor_ms: int = 0

    def after(self, t: int) -> int:
        """The first tick strictly after ``t``."""
        return self.anchor_ms + ((t - self.anchor_ms) // self.period_ms + 1) * self.period_ms

    def count(self, start: int, end: int) -> int:
        """How many ticks lie in ``[start, end]``."""
        if end < start:
            return 0
        return (end - self.anchor_ms) // self.period_ms - (
            start - 1 - self.anchor_ms
        ) // self.period_ms

    def last(self, start: int, end: int) -> int | None:
        """The last tick in ``[start, end]``, or None."""
        tick = self.anchor_ms + (end - self.anchor_ms) // self.period_ms * self.period_ms
        return tick if tick >= start else None


@dataclass(frozen=True)
class Cron:
    """A cron expression (five fields, or six with seconds last) on the wall clock of ``tz``."""

    expression: str
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.expression):
            raise InvalidTrigger(f"{self.expression!r} is no cron expression")
        zone(self.tz)

    def after(self, t: int) -> int:
        """The first tick strictly after ``t``; :class:`InvalidTrigger` when there is none."""
        tz = zone(self.tz)
        wall = datetime.fromtimestamp(t / 1000, tz).replace(tzinfo=None)
        # Wall-clock times map to instants in order (a skipped one to the end
        # of its gap, a repeated one to its first pass), so the first tick
        # after t is among the wall times after t's own: only those that fall
        # in the first pass of a repeated hour t is in the second of are skipped.
        times = croniter(self.expression, wall, max_years_between_matches=_CRON_YEARS)
        while True:
            try:
                instant = _instant(times.get_next(datetime), tz)
            except CroniterError:
                # February 30th, or a year gone by: croniter searched and gave up.
                raise NoMoreTicks(f"{self.expression!r} has no time after {t}") from None
            if instant > t:
                return instant

    def count(self, start: int, end: int) -> int:
        """How many ticks lie in ``[start, end]``.

        The wall-clock times of the expression up to the last one at or
        before ``end``, less those up to ``start``, less the times of a
        skipped hour that fire as one (see :meth:`_calendar`).
        """
        if end < start:
            return 0
        calendar = self._calendar()
        if calendar is None:
            return sum(1 for _ in ticks(self, start, end))
        tz = zone(self.tz)
        count = calendar.count(_latest_wall(start - 1, tz), _latest_wall(end, tz))
        for gap_start, gap_end in _gaps(start - 1, end, tz):
            count -= max(0, calendar.count(gap_start - _JUST, gap_end) - 1)
        return count

    def last(self, start: int, end: int) -> int | None:
        """The last tick in ``[start, end]``, or None."""
        tz = zone(self.tz)
        times = croniter(
            self.expression, _latest_wall(end, tz) + _JUST, max_years_between_matches=_CRON_YEARS
        )
        try:
            tick = _instant(times.get_prev(datetime), tz)
        except CroniterError:
            return None
        return tick if tick >= start else None

    def _calendar(self) -> _Calendar | None:
        """The expression's days and times of day, to count without listing; None for one
        whose fields are not the usual five or six (seven with a year)."""
        fields = self.expression.split()
        if len(fields) not in (5, 6, 7):
            return None
        expanded = croniter(self.expression).expanded
        # A day matches when the expression fires on it at all: croniter's own day rules
        # ("L", "5#2", day of month or of week) on the same fields at midnight.
        days = " ".join(["0", "0", *fields[2:5], *(["0", fields[6]] if len(fields) == 7 else [])])
        return _Calendar(
            days,
            hours=_values(expanded[1], 24),
            minutes=_values(expanded[0], 60),
            seconds=_values(expanded[5], 60) if len(fields) > 5 else [0],
        )


@dataclass(frozen=True)
class Window:
    """The ticks of ``trigger`` from ``start_ms`` up to ``end_ms`` (None: no bound)."""

    trigger: Every | Cron
    start_ms: int | None = None
    end_ms: int | None = None

    def after(self, t: int) -> int:
        """The first tick strictly after ``t``; :class:`NoMoreTicks` past the end."""
        if self.start_ms is not None:
            t = max(t, self.start_ms - 1)
        tick = self.trigger.after(t)
        if self.end_ms is not None and tick > self.end_ms:
            raise NoMoreTicks(f"no tick after {t} up to the end, {self.end_ms}")
        return tick

    def count(self, start: int, end: int) -> int:
        """How many ticks lie in ``[start, end]``."""
        return self.trigger.count(*self._within(start, end))

    def last(self, start: int, end: int) -> int | None:
        """The last tick in ``[start, end]``, or None."""
        start, end = self._within(start, end)
        return self.trigger.last(start, end) if start <= end else None

    def _within(self, start: int, end: int) -> tuple[int, int]:
        if self.start_ms is not None:
            start = max(start, self.start_ms)
        if self.end_ms is not None:
            end = min(end, self.end_ms)
        return start, end


Trigger = Every | Cron | Window


def following(trigger: Trigger, t: int) -> int | None:
    """The first tick strictly after ``t``, or None when there is none."""
    try:
        return trigger.after(t)
    except NoMoreTicks:
        return None


def ticks(trigger: Trigger, start: int, end: int) -> Iterator[int]:
    """The ticks in ``[start, end]``, in order."""
    tick = following(trigger, start - 1)
    while tick is not None and tick <= end:
        yield tick
        tick = following(trigger, tick)


def _instant(wall: datetime, tz: ZoneInfo) -> int:
    """Where a wall-clock time of ``tz`` falls in real time (ms).

    A repeated time is its first pass (``fold=0``). A skipped one (in a gap,
    where ``fold=0`` reads it with the offset before the change and lands
    after it, ``fold=1`` with the offset after and lands before it) is the
    moment the gap ends, the first valid time after it.
    """
    first = int(wall.replace(tzinfo=tz, fold=0).timestamp() * 1000)
    second = int(wall.replace(tzinfo=tz, fold=1).timestamp() * 1000)
    if first <= second:
        return first
    return _change(second, first, tz)


def _change(low: int, high: int, tz: ZoneInfo) -> int:
    """The first instant of ``(low, high]`` whose offset from UTC is not ``low``'s."""
    before = datetime.fromtimestamp(low / 1000, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle / 1000, tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


#: Less than the step between two cron times: their times are whole seconds.
_JUST = timedelta(milliseconds=1)


def _wall(t: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t / 1000, tz).replace(tzinfo=None)


def _latest_wall(t: int, tz: ZoneInfo) -> datetime:
    """The latest wall-clock time whose tick is at or before ``t``.

    ``t``'s own, but in the second pass of a repeated hour: every time of
    that hour fired in the first, so the latest is the last of the hour.
    """
    here = datetime.fromtimestamp(t / 1000, tz)
    if not here.fold:
        return here.replace(tzinfo=None)
    repeated = (here.replace(fold=0).utcoffset() or timedelta()) - (here.utcoffset() or timedelta())
    first_pass = t - int(repeated.total_seconds() * 1000)
    return _wall(_change(first_pass, t, tz) - 1, tz)


#: How often the offset is looked at to find the daylight saving changes between two times.
_OFFSET_STEP_MS = 6 * 3600 * 1000


def _gaps(after: int, until: int, tz: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
    """The skipped hours of changes in ``(after, until]``: from the first wall-clock time
    skipped to the one the gap ends at, each of which fires at the same moment."""
    t = after
    offset = datetime.fromtimestamp(t / 1000, tz).utcoffset()
    while t < until:
        step = min(t + _OFFSET_STEP_MS, until)
        following = datetime.fromtimestamp(step / 1000, tz).utcoffset()
        if following != offset:
            change = _change(t, step, tz)
            skipped = (following or timedelta()) - (offset or timedelta())
            if skipped > timedelta():
                gap_end = _wall(change, tz)
                yield gap_end - skipped, gap_end
            offset = following
        t = step


@dataclass(frozen=True)
class _Calendar:
    """A cron expression as days (an expression at midnight) and times of day, to count."""

    days: str
    hours: list[int]
    minutes: list[int]
    seconds: list[int]

    def count(self, after: datetime, until: datetime) -> int:
        """How many of its wall-clock times lie in ``(after, until]``."""
        if until <= after:
            return 0
        day_seconds = len(self.hours) * len(self.minutes) * len(self.seconds)
        first, last = after.date(), until.date()
        midnight = datetime.combine(first, datetime.min.time())
        days = croniter(self.days, midnight - _JUST, max_years_between_matches=_CRON_YEARS)
        count = 0
        while True:
            try:
                day = days.get_next(datetime).date()
            except CroniterError:
                return count  # its year has gone by
            if day > last:
                return count
            low = _second_of_day(after) + 1 if day == first else 0
            high = _second_of_day(until) if day == last else 86_399
            count += day_seconds if (low, high) == (0, 86_399) else self._within(low, high)

    def _within(self, low: int, high: int) -> int:
        """How many times of day lie in ``[low, high]`` (seconds of the day)."""
        count = 0
        for hour in self.hours:
            for minute in self.minutes:
                base = hour * 3600 + minute * 60
                count += bisect_right(self.seconds, high - base) - bisect_left(
                    self.seconds, low - base
                )
        return count


def _second_of_day(wall: datetime) -> int:
    return wall.hour * 3600 + wall.minute * 60 + wall.second


def _values(field: list, size: int) -> list[int]:
    """A field croniter expanded, as its sorted values ("*": every one of ``size``)."""
    return list(range(size)) if field == ["*"] else sorted(int(value) for value in field)


def describe(trigger: Trigger) -> str:
    """The trigger as a person reads it: ``every 5m``, ``cron 0 3 * * * (Europe/Berlin)``
    (its start and end are said beside it)."""
    if isinstance(trigger, Window):
        trigger = trigger.trigger
    if isinstance(trigger, Every):
        return f"every {_format_period(trigger.period_ms)}"
    return f"cron {trigger.expression} ({trigger.tz})"


def _format_period(ms: int) -> str:
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        count, ms = divmod(ms, _UNITS_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def as_utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
