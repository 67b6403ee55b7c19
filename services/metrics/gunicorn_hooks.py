"""gunicorn's configuration for metrics (``--config=python:services.metrics.gunicorn_hooks``).

In multiprocess mode a process that gunicorn replaced (it crashed, or hit a
limit) must leave the sums of live gauges.
"""

from __future__ import annotations

from prometheus_client.multiprocess import mark_process_dead

from services.settings import multiprocess_metrics_dir


def child_exit(server, worker) -> None:
    directory = multiprocess_metrics_dir()
    if directory is not None:
        mark_process_dead(worker.pid, directory)
