"""gunicorn's hooks for an API instance's metrics (its ``--config``).

The master serves the metrics of every process of the instance on a port of
their own (API_METRICS_PORT), so that a scraper never needs the port clients
use: compose publishes only the load balancer's ports for those. In
multiprocess mode a process that gunicorn replaced (it crashed, or hit a
limit) must leave the sums of live gauges.
"""

from __future__ import annotations

from prometheus_client import start_http_server
from prometheus_client.multiprocess import mark_process_dead

from services.settings import load_settings, multiprocess_metrics_dir

from .multiprocess import registry


def when_ready(server) -> None:
    settings = load_settings()
    start_http_server(settings.api_metrics_port, addr=settings.bind_host, registry=registry())


def child_exit(server, worker) -> None:
    directory = multiprocess_metrics_dir()
    if directory is not None:
        mark_process_dead(worker.pid, directory)
