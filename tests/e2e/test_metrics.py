"""A real Prometheus scrapes the running stack, local and compose, and counts what happened.

Compose runs its own Prometheus, which finds every replica by DNS inside the
project's network. For the local stack, the test starts Debian's
``prometheus`` on a free loopback port with a configuration made from where
the stack's processes serve their metrics.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import requests
import yaml

from services.metrics.targets import scrape_configs

from ..support import free_ports, wait_for
from .compose_project import ComposeStack
from .prometheus import Prometheus, ready, targets_up

PROMETHEUS = shutil.which("prometheus")
#: Jobs submitted in the counting test.
JOBS = 5
#: A metric each service serves from its start. A worker's are empty until it
#: runs a job; what workers count is checked through Prometheus below.
SERVED_FIRST = {
    "api": "jobqueue_http_requests",
    "queues": "jobqueue_workers_alive",
    "traefik": "traefik_entrypoint_requests",
}

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None and os.environ.get("CI") != "true",
    reason="the prometheus binary is missing (apt-get install prometheus); CI installs it",
)


@pytest.fixture
def prometheus(any_stack, tmp_path_factory):
    if isinstance(any_stack, ComposeStack):
        yield Prometheus(any_stack.prometheus_url)
        return
    assert PROMETHEUS, "the prometheus binary is missing: CI must install it"
    directory = tmp_path_factory.mktemp("prometheus")
    config = directory / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": scrape_configs(any_stack.metrics_targets),
            }
        )
    )
    (port,) = free_ports(1)
    server = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "prometheus.log").open("w"),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: ready(url), timeout=60, what="Prometheus to be ready")
        yield Prometheus(url)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_prometheus_scrapes_every_service_of_the_stack(any_stack, prometheus):
    health = wait_for(lambda: targets_up(prometheus), timeout=60, what="every target to be up")

    targets = any_stack.metrics_targets
    assert set(health) == {f"http://{t}/metrics" for ts in targets.values() for t in ts}
    # Each worker process beats, however many per worker.
    workers = len(targets["worker"]) * any_stack.settings.worker_processes
    assert wait_for(
        lambda: prometheus.value("jobqueue_workers_alive") == workers,
        timeout=30,
        what=f"{workers} workers alive",
    )


def test_prometheus_counts_the_jobs_submitted_and_run(any_stack, prometheus):
    stack = any_stack
    wait_for(lambda: targets_up(prometheus), timeout=60, what="every target to be up")
    queries = {
        "submitted": 'sum(jobqueue_jobs_submitted_total{actor="add"})',
        "started": 'sum(jobqueue_jobs_started_total{actor="add"})',
        "succeeded": 'sum(jobqueue_jobs_succeeded_total{actor="add"})',
        "accepted": 'sum(jobqueue_http_requests_total{route="/jobs",method="POST",status="202"})',
        "timed": 'sum(jobqueue_job_duration_seconds_count{actor="add"})',
    }
    before = {name: prometheus.value(query) or 0 for name, query in queries.items()}

    records = [stack.ended(stack.submit("add", args=[number, 1])) for number in range(JOBS)]
    assert {record["state"] for record in records} == {"succeeded"}

    def counted():
        now = {name: prometheus.value(query) or 0 for name, query in queries.items()}
        return now if all(now[name] - before[name] == JOBS for name in queries) else None

    wait_for(counted, timeout=60, what=f"Prometheus to count {JOBS} more jobs everywhere")
    assert prometheus.value('sum(jobqueue_jobs_in_progress{actor="add"})') == 0
    assert prometheus.value('sum(jobqueue_queue_messages{queue="default"})') == 0
    assert prometheus.value('sum(traefik_service_requests_total{service=~"api.*"})') > 0
    # Each worker process by the name its records and the dashboard give it.
    for name in {record["worker_name"] for record in records}:
        assert prometheus.value(f'jobqueue_worker_info{{worker="{name}"}}') == 1, name


def test_metrics_are_not_served_through_the_load_balancer(any_stack):
    assert any_stack.get("/metrics").status_code == 404
    assert any_stack.get("/metrics", auth=any_stack.admin).status_code == 404
    # On each service's own loopback address they are.
    for job, targets in any_stack.metrics_targets.items():
        for target in targets:
            reply = requests.get(f"http://{target}/metrics", timeout=10)
            assert reply.status_code == 200, target
            assert reply.headers["Content-Type"].startswith("text/plain"), target
            if job in SERVED_FIRST:
                assert SERVED_FIRST[job] in reply.text, target
