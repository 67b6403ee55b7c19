"""Prometheus metrics of the schedules a process fires: ticks fired, ticks missed, lag.

Counted where a tick is claimed, by the one firer that won it, so a scrape
of every worker adds up to each tick once.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TICKS_FIRED = Counter(
    "jobqueue_schedule_ticks_fired", "Ticks of schedules that ran a job, by schedule.", ["schedule"]
)
TICKS_MISSED = Counter(
    "jobqueue_schedule_ticks_missed",
    "Ticks of schedules that ran no job (missed while nothing fired, per the schedule's "
    "misfire policy, or its job could not be made), by schedule.",
    ["schedule"],
)
FIRING_LAG = Histogram(
    "jobqueue_schedule_lag_seconds",
    "How late a tick's job was created, after the tick's time, by schedule.",
    ["schedule"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


def count(schedule: str, lags_ms: list[int], missed: int) -> None:
    """Count one firing: the lag of each tick that ran a job, and the ticks missed."""
    if lags_ms:
        TICKS_FIRED.labels(schedule).inc(len(lags_ms))
        histogram = FIRING_LAG.labels(schedule)
        for lag in lags_ms:
            histogram.observe(lag / 1000)
    if missed:
        TICKS_MISSED.labels(schedule).inc(missed)
