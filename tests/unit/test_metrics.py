"""What the metrics count, read from the registry of this process (no multiprocess files).

The API in process and an in-process worker, both on a real Redis; the
dashboard's queue metrics as a scraper gets them. Counts are compared before
and after, since the registry lives as long as the test session.
"""

from __future__ import annotations

import asyncio

import falcon.testing
import pytest
import redis
import requests
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from services.dashboard.app import create_app as create_dashboard
from services.metrics import gunicorn_hooks
from services.metrics.api import _observe_all
from tests.support import ended, free_ports, run_job, wait_for


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0


def test_requests_are_counted_by_route_template_not_path(client):
    route = {"route": "/jobs/{job_id}", "method": "GET", "status": "404"}
    before = sample("jobqueue_http_requests_total", **route)
    timed = sample(
        "jobqueue_http_request_duration_seconds_count", route="/jobs/{job_id}", method="GET"
    )

    for job_id in ("one", "two", "three"):
        assert client.simulate_get(f"/jobs/{job_id}").status_code == 404
    client.simulate_get("/no/such/route")

    assert sample("jobqueue_http_requests_total", **route) == before + 3
    assert (
        sample("jobqueue_http_request_duration_seconds_count", route="/jobs/{job_id}", method="GET")
        == timed + 3
    )
    assert (
        sample("jobqueue_http_requests_total", route="/jobs/one", method="GET", status="404") == 0
    )
    assert sample("jobqueue_http_requests_total", route="unmatched", method="GET", status="404") > 0


def test_requests_answered_at_once_are_each_counted_and_timed(client):
    hello = {"route": "/", "method": "GET"}
    before = sample("jobqueue_http_requests_total", **hello, status="200")
    timed = sample("jobqueue_http_request_duration_seconds_count", **hello)
    slowest = sample("jobqueue_http_request_duration_seconds_bucket", **hello, le="+Inf")

    async def answer_together() -> list[int]:
        async with falcon.testing.ASGIConductor(client.app) as conductor:
            replies = await asyncio.gather(*(conductor.simulate_get("/") for _ in range(20)))
        return [reply.status_code for reply in replies]

    assert asyncio.run(answer_together()) == [200] * 20
    assert sample("jobqueue_http_requests_total", **hello, status="200") == before + 20
    assert sample("jobqueue_http_request_duration_seconds_count", **hello) == timed + 20
    assert sample("jobqueue_http_request_duration_seconds_bucket", **hello, le="+Inf") == (
        slowest + 20
    )


def test_times_observed_together_fall_in_the_buckets_they_fall_in_one_by_one():
    registry = CollectorRegistry()
    buckets = (0.005, 0.01, 0.1, 1)
    one_by_one = Histogram("one_by_one", "", registry=registry, buckets=buckets)
    together = Histogram("together", "", registry=registry, buckets=buckets)
    # On a bound, between two, below the first, above the last.
    took = [0.005, 0.007, 0.01, 0.0001, 0.5, 0.5, 3.0, 0.1]

    for amount in took:
        one_by_one.observe(amount)
    _observe_all(together, took)

    def samples(name: str) -> dict:
        (family,) = (f for f in registry.collect() if f.name == name)
        return {
            (s.name.removeprefix(name), s.labels.get("le")): s.value
            for s in family.samples
            if s.name != f"{name}_created"
        }

    assert samples("together") == samples("one_by_one")
    assert samples("together")[("_count", None)] == len(took)


def test_submitted_jobs_are_counted_by_job_whatever_their_lane(client):
    before = sample("jobqueue_jobs_submitted_total", actor="add")

    for priority in ("high", "normal", "low"):
        reply = client.simulate_post(
            "/jobs", json={"actor": "add", "args": [1, 2], "options": {"priority": priority}}
        )
        assert reply.status_code == 202
    client.simulate_post("/jobs/batch", json={"jobs": [{"actor": "add", "args": [1, 1]}] * 2})
    # The same idempotency key three times queues one job: it counts once.
    for _ in range(3):
        client.simulate_post(
            "/jobs", json={"actor": "add", "args": [1, 2]}, headers={"Idempotency-Key": "once"}
        )

    assert sample("jobqueue_jobs_submitted_total", actor="add") == before + 6


def test_an_instance_serves_its_metrics_on_their_own_port_not_to_clients(client, monkeypatch):
    (port,) = free_ports(1)
    monkeypatch.setenv("API_METRICS_PORT", str(port))
    monkeypatch.setenv("BIND_HOST", "127.0.0.1")
    client.simulate_get("/")

    gunicorn_hooks.when_ready(server=None)
    served = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)

    assert served.status_code == 200
    names = {family.name for family in text_string_to_metric_families(served.text)}
    assert {"jobqueue_http_requests", "jobqueue_jobs_submitted"} <= names
    assert client.simulate_get("/metrics").status_code == 404


def test_a_worker_counts_each_attempt_by_how_it_ended(queue, worker):
    counters = ("started", "succeeded", "retried", "failed", "dead")
    names = {c: f"jobqueue_jobs_{c}_total" for c in counters}
    before = {c: (sample(names[c], actor="add"), sample(names[c], actor="fail")) for c in counters}
    runs = sample("jobqueue_job_duration_seconds_count", actor="fail")

    for job_id in [
        run_job(queue, "add", 1, 2, options={"priority": "high"}),
        run_job(queue, "fail", options={"max_retries": 1}),
        run_job(queue, "fail", options={"max_retries": 0}),
    ]:
        ended(queue, job_id)
    ended(queue, run_job(queue, "fail", permanent=True))

    def added(counter: str) -> tuple[float, float]:
        now = (sample(names[counter], actor="add"), sample(names[counter], actor="fail"))
        return tuple(n - b for n, b in zip(now, before[counter], strict=True))

    # add: one attempt that succeeded; fail: 2 + 1 + 1 attempts.
    assert {c: added(c) for c in counters} == {
        "started": (1, 4),
        "succeeded": (1, 0),
        "retried": (0, 1),
        "failed": (0, 1),
        "dead": (0, 2),
    }
    assert sample("jobqueue_job_duration_seconds_count", actor="fail") == runs + 4
    assert sample("jobqueue_jobs_in_progress", actor="fail") == 0


def test_an_attempt_is_timed_in_the_bucket_of_how_long_it_ran(queue, worker):
    def timed() -> dict[str, float]:
        name = "jobqueue_job_duration_seconds"
        return {
            "sum": sample(f"{name}_sum", actor="count_slowly"),
            "within 0.25 s": sample(f"{name}_bucket", actor="count_slowly", le="0.25"),
            "all": sample(f"{name}_count", actor="count_slowly"),
        }

    before = timed()
    ended(queue, run_job(queue, "count_slowly", to=1, interval=0.3))
    after = timed()

    # It slept 0.3 s: counted, but not within the 0.25 s bucket.
    assert after["all"] == before["all"] + 1
    assert after["within 0.25 s"] == before["within 0.25 s"]
    assert after["sum"] - before["sum"] >= 0.3


@pytest.fixture
def dashboard(settings, queue):
    return falcon.testing.TestClient(create_dashboard(settings, queue))


def queue_metrics(dashboard) -> dict[tuple[str, str], float]:
    reply = dashboard.simulate_get("/metrics")
    assert reply.status_code == 200, reply.text
    return {
        (s.name, s.labels.get("queue", "")): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def test_the_dashboard_reports_waiting_delayed_and_dead_messages_without_auth(dashboard, queue):
    for _ in range(3):
        run_job(queue, "add", 1, 2)
    run_job(queue, "add", 1, 2, options={"delay": 60})
    run_job(queue, "add", 1, 2, options={"priority": "low"})

    metrics = queue_metrics(dashboard)

    assert metrics[("jobqueue_queue_messages", "default")] == 3
    assert metrics[("jobqueue_queue_messages", "default-low")] == 1
    assert metrics[("jobqueue_queue_delayed_messages", "default")] == 1
    assert metrics[("jobqueue_queue_dead_letters", "default")] == 0
    assert metrics[("jobqueue_queue_oldest_message_age_seconds", "default-high")] == 0
    assert metrics[("jobqueue_workers_alive", "")] == 0
    # The oldest message's age grows while nobody takes it.
    wait_for(
        lambda: (
            queue_metrics(dashboard)[("jobqueue_queue_oldest_message_age_seconds", "default")] > 0.2
        ),
        what="the oldest message to age",
    )


def test_the_dashboard_counts_live_workers_and_dead_letters(dashboard, queue, worker):
    ended(queue, run_job(queue, "fail", options={"max_retries": 0}))

    metrics = queue_metrics(dashboard)

    assert metrics[("jobqueue_queue_dead_letters", "default")] == 1
    assert metrics[("jobqueue_workers_alive", "")] == 1


def test_queue_metrics_answer_503_when_redis_is_down(unreachable_settings, built_queue):
    dashboard = falcon.testing.TestClient(create_dashboard(unreachable_settings, built_queue))

    reply = dashboard.simulate_get("/metrics")

    assert reply.status_code == 503
    assert reply.headers["Retry-After"]


def test_the_dashboard_reports_a_full_redis(dashboard, queue):
    client = queue.broker.client
    client.config_resetstat()
    before = queue_metrics(dashboard)
    assert before[("jobqueue_redis_memory_max_bytes", "")] == 0
    assert before[("jobqueue_redis_memory_used_bytes", "")] > 0
    assert before[("jobqueue_redis_writes_refused_total", "")] == 0

    client.config_set("maxmemory", 1)
    try:
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            run_job(queue, "add", 1, 2)
        metrics = queue_metrics(dashboard)
    finally:
        client.config_set("maxmemory", 0)

    assert metrics[("jobqueue_redis_memory_max_bytes", "")] == 1
    assert metrics[("jobqueue_redis_writes_refused_total", "")] == 1
