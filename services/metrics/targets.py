"""Where Prometheus finds each service's metrics, as the settings place them.

``prometheus/prometheus.yml`` lists these for the default settings (a test
keeps it so); the end-to-end tests point a real Prometheus at a running
stack's.
"""

from __future__ import annotations

from services.settings import Settings


def api_metrics_ports(settings: Settings) -> list[int]:
    """Where each API instance of the local stack serves its metrics, one port after another."""
    first = settings.api_metrics_port
    return list(range(first, first + len(settings.api_ports)))


def worker_metrics_ports(settings: Settings) -> list[int]:
    """Where each worker of the local stack serves its metrics, one port after another."""
    first = settings.worker_metrics_port
    return list(range(first, first + settings.workers))


def scrape_targets(settings: Settings, host: str = "127.0.0.1") -> dict[str, list[str]]:
    """``host:port`` of each service's metrics, by Prometheus job name."""
    return {
        "api": [f"{host}:{port}" for port in api_metrics_ports(settings)],
        "worker": [f"{host}:{port}" for port in worker_metrics_ports(settings)],
        "queues": [f"{host}:{settings.dashboard_port}"],
        "traefik": [f"{host}:{settings.traefik_metrics_port}"],
    }


def scrape_configs(targets: dict[str, list[str]]) -> list[dict]:
    """The ``scrape_configs`` of a ``prometheus.yml`` for ``targets``, by job name."""
    return [
        {"job_name": job, "static_configs": [{"targets": addresses}]}
        for job, addresses in targets.items()
    ]
