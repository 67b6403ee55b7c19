"""Limits per job across every worker: how many may run at once, and how many may start per period.

A job declares them (``@job(concurrency=2, rate="100/s")``); the
:class:`~actors.middleware.Limits` middleware holds them in Redis, so that
they hold however many workers run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: The units a rate may be given in, in milliseconds.
RATE_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(ms|s|m|h|d)\s*")


@dataclass(frozen=True)
class Limit:
    """``concurrency`` jobs running at once, ``count`` starting per ``period_ms`` (0: no limit)."""

    concurrency: int = 0
    count: int = 0
    period_ms: int = 0

    @classmethod
    def of(cls, options: dict[str, Any]) -> Limit | None:
        """The limits a job's options declare (None: none); ValueError for one not valid."""
        concurrency, rate = options.get("concurrency"), options.get("rate")
        if concurrency is None and rate is None:
            return None
        if concurrency is not None and (type(concurrency) is not int or concurrency < 1):
            raise ValueError(
                f"concurrency must be a whole number of at least 1, got {concurrency!r}"
            )
        count, period_ms = parse_rate(rate) if rate is not None else (0, 0)
        return cls(concurrency or 0, count, period_ms)

    def describe(self) -> dict[str, Any]:
        """The limits as ``GET /actors`` shows them."""
        return {"concurrency": self.concurrency or None, "rate": self.rate}

    @property
    def rate(self) -> str | None:
        if not self.count:
            return None
        for unit, ms in reversed(RATE_UNITS.items()):
            if self.period_ms % ms == 0:
                every = self.period_ms // ms
                return f"{self.count}/{'' if every == 1 else every}{unit}"
        raise AssertionError("every period is a whole number of milliseconds")


def parse_rate(rate: Any) -> tuple[int, int]:
    """``"100/s"`` (or ``"5/m"``, ``"10/30s"``...) as (starts, period in milliseconds)."""
    match = _RATE.fullmatch(rate) if isinstance(rate, str) else None
    if not match or int(match[1]) < 1 or match[2] == "0":
        raise ValueError(
            f"rate must be starts per period, as '100/s', '5/m' or '10/30s', got {rate!r}"
        )
    return int(match[1]), int(match[2] or 1) * RATE_UNITS[match[3]]
