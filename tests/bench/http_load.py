"""Measures of the HTTP path: wrk's load on a URL, and what the whole stack spent serving it."""

from __future__ import annotations

import statistics

from .queues import SERVICE_NAMESPACE, QueueWatch
from .stack import FLOOR, BenchStack
from .wrk import Load, run_wrk


def measure_http(bench: BenchStack, url: str, *, seconds: float) -> dict:
    """Requests per second and latency of GET ``url``, and CPU per request of the stack.

    The CPU counts every process of the stack (load balancer, API instances,
    dashboard, Redis, the worker) from the start of the load until the jobs
    it submitted have run, so a page that enqueues a job pays for the job.
    """
    meter = bench.cpu_meter()
    load = run_wrk(url, seconds=seconds)
    QueueWatch(bench.redis, SERVICE_NAMESPACE).wait_finished()
    spent = meter.spent()
    return {
        **load_figures(load),
        "stack_cpu_us_per_request": sum(spent.values()) / load.requests * 1e6,
        "cpu_us_per_request": {
            name: round(seconds / load.requests * 1e6, 1) for name, seconds in spent.items()
        },
    }


def measure_floor(bench: BenchStack, *, seconds: float) -> dict:
    """GET of a 12-byte ASGI app on gunicorn as the API runs it: what no app can go below."""
    url = bench.start_floor()
    run_wrk(url, seconds=1)
    meter = bench.cpu_meter(FLOOR)
    load = run_wrk(url, seconds=seconds)
    return {
        **load_figures(load),
        "cpu_us_per_request": sum(meter.spent().values()) / load.requests * 1e6,
    }


def load_figures(load: Load) -> dict:
    """What wrk measured of a load: its rate, latency, and how many requests (and failed)."""
    return {
        "requests_per_s": load.per_second,
        "p50_ms": load.p50_ms,
        "p99_ms": load.p99_ms,
        "requests": load.requests,
        "failed": load.errors + load.bad_status,
    }


def median_round(rounds: list[dict]) -> dict:
    """Each figure of ``rounds`` of one measure, its median over them; the rounds kept beside."""
    median = {
        key: statistics.median(figures[key] for figures in rounds)
        for key, value in rounds[0].items()
        if isinstance(value, int | float)
    }
    if "cpu_us_per_request" in rounds[0]:
        median["cpu_us_per_request"] = {
            name: statistics.median(figures["cpu_us_per_request"][name] for figures in rounds)
            for name in rounds[0]["cpu_us_per_request"]
        }
    return {**median, "rounds": rounds}
