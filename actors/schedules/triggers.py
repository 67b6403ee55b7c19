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
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

#: The shortest interval a schedule may have.
MIN_PERIOD_MS = 1000
#: The longest: a year.
MAX_PERIOD_MS = 366 * 24 * 3600 * 1000

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PERIOD = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


class InvalidTrigger(ValueError):
    """A period, cron expression or time zone that cannot be read."""


def period_ms(period: str | float | timedelta) -> int:
    """``"5m"``, ``"1h30m"``, ``90`` (seconds) or a timedelta, in milliseconds."""
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
    if not MIN_PERIOD_MS <= ms <= MAX_PERIOD_MS:
        raise InvalidTrigger(f"a period must be between 1 second and 366 days, not {period!r}")
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
        times = croniter(self.expression, wall)
        while True:
            try:
                instant = _instant(times.get_next(datetime), tz)
            except CroniterError:
                # February 30th, or a year gone by: croniter searched and gave up.
                raise InvalidTrigger(f"{self.expression!r} has no time after {t}") from None
            if instant > t:
                return instant

    def count(self, start: int, end: int) -> int:
        """How many ticks lie in ``[start, end]``."""
        return sum(1 for _ in ticks(self, start, end))


Trigger = Every | Cron


def ticks(trigger: Trigger, start: int, end: int) -> Iterator[int]:
    """The ticks in ``[start, end]``, in order."""
    tick = trigger.after(start - 1)
    while tick <= end:
        yield tick
        tick = trigger.after(tick)


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
    # The change happened in (second, first]: find it to the millisecond.
    before = datetime.fromtimestamp(second / 1000, tz).utcoffset()
    low, high = second, first
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle / 1000, tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


def describe(trigger: Trigger) -> str:
    """The trigger as a person reads it: ``every 5m``, ``cron 0 3 * * * (Europe/Berlin)``."""
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
