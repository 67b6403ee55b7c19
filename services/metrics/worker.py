"""A worker's ``/metrics``: every process of the worker, on WORKER_METRICS_PORT.

dramatiq runs :func:`serve` in a process of its own
(``dramatiq --fork-function=services.metrics.worker:serve``), once per worker
whatever its process count. It listens on BIND_HOST (loopback unless told
otherwise), where dramatiq's bundled Prometheus middleware would listen on
every interface.
"""

from __future__ import annotations

from prometheus_client import start_http_server

from services.settings import load_settings

from .multiprocess import registry


def serve() -> None:
    settings = load_settings()
    _, thread = start_http_server(
        settings.worker_metrics_port, addr=settings.bind_host, registry=registry()
    )
    thread.join()
