"""The console's figures of the last hour, kept in Redis by the service itself.

``storage/lua/stats.lua`` counts jobs as they end (by state, and how long they ran)
in one hash per ``SPAN`` seconds; the dashboard adds the queues' depth and
their oldest message's age to the same hashes as it samples them
(:meth:`Stats.sample_queues`). :meth:`Stats.last_hour` reads them back as
the series the overview charts draw, so that the picture needs no Prometheus.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import redis

from .states import State
from .storage import Keys

#: Seconds each hash counts, and how long one is kept: as ``storage/lua/stats.lua`` writes them.
SPAN = 10
KEEP_SECONDS = 3900
#: The window the console shows, and the run-time percentiles it draws, per minute.
WINDOW_SECONDS = 3600
PERCENTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
RUN_SLOT = "run:"
#: The ends counted as failures: a job that raised its permanent error, or ran out of retries.
FAILURES = (State.FAILED, State.DEAD)


@dataclass(frozen=True)
class Stats:
    client: redis.Redis
    keys: Keys

    def key(self, second: int) -> str:
        return self.keys.stats(second - second % SPAN)

    def sample_queues(self, depth: int, oldest_seconds: float, now: float | None = None) -> None:
        """Keep the queues' depth and their oldest message's age, as of ``now``."""
        key = self.key(int(now if now is not None else time.time()))
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"depth": depth, "oldest": round(oldest_seconds, 3)})
            pipe.expire(key, KEEP_SECONDS)
            pipe.execute()

    def last_hour(self, now: float | None = None) -> dict[str, Any]:
        """Every series of the last hour, oldest first, one value per ``SPAN`` seconds.

        ``succeeded`` and ``failed`` are jobs per second; ``depth`` and
        ``oldest`` (seconds) are None where nobody sampled them; ``run_time``
        has the percentiles of how long attempts ran (seconds), per minute.
        """
        end = int(now if now is not None else time.time())
        end -= end % SPAN
        seconds = list(range(end - WINDOW_SECONDS + SPAN, end + SPAN, SPAN))
        with self.client.pipeline(transaction=False) as pipe:
            for second in seconds:
                pipe.hgetall(self.key(second))
            counts = [
                {name.decode(): float(value) for name, value in raw.items()}
                for raw in pipe.execute()
            ]
        minutes = [seconds[i : i + 60 // SPAN] for i in range(0, len(seconds), 60 // SPAN)]
        by_second = dict(zip(seconds, counts, strict=True))
        runs = [_merge(by_second[second] for second in minute) for minute in minutes]
        return {
            "span": SPAN,
            "times": [second * 1000 for second in seconds],
            State.SUCCEEDED: [c.get(State.SUCCEEDED, 0) / SPAN for c in counts],
            State.FAILED: [sum(c.get(state, 0) for state in FAILURES) / SPAN for c in counts],
            "depth": [c.get("depth") for c in counts],
            "oldest": [c.get("oldest") for c in counts],
            "run_time": {
                "times": [minute[0] * 1000 for minute in minutes],
                **{name: [_percentile(run, q) for run in runs] for name, q in PERCENTILES.items()},
            },
        }


def _merge(counts) -> dict[int, float]:
    """The run-time histogram of several spans: attempts per slot."""
    merged: dict[int, float] = {}
    for count in counts:
        for name, value in count.items():
            if name.startswith(RUN_SLOT):
                slot = int(name.removeprefix(RUN_SLOT))
                merged[slot] = merged.get(slot, 0) + value
    return merged


def _percentile(histogram: dict[int, float], q: float) -> float | None:
    """The run time (seconds) that ``q`` of the attempts did not exceed: its slot's upper end."""
    total = sum(histogram.values())
    if not total:
        return None
    seen = 0.0
    for slot in sorted(histogram):
        seen += histogram[slot]
        if seen >= q * total:
            return round(math.pow(2, slot / 2) / 1000, 4)
    return None
