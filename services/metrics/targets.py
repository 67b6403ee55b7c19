"""Where Prometheus finds each service's metrics, as the settings place them.

``prometheus/prometheus.yml`` lists these for the default settings (a test
keeps it so); the end-to-end tests point a real Prometheus at a running
stack's.
"""

from __future__ import annotations

from services.settings import Settings
from services.stack.plan import worker_metrics_ports


def scrape_targets(settings: Settings, host: str = "127.0.0.1") -> dict[str, list[str]]:
    """``host:port`` of each service's metrics, by Prometheus job name."""
    return {
        "api": [f"{host}:{port}" for port in settings.api_ports],
        "worker": [f"{host}:{port}" for port in worker_metrics_ports(settings)],
        "queues": [f"{host}:{settings.dashboard_port}"],
        "traefik": [f"{host}:{settings.traefik_metrics_port}"],
    }


def scrape_configs(settings: Settings, host: str = "127.0.0.1") -> list[dict]:
    """The ``scrape_configs`` of a ``prometheus.yml`` for these settings."""
    return [
        {"job_name": job, "static_configs": [{"targets": targets}]}
        for job, targets in scrape_targets(settings, host).items()
    ]
