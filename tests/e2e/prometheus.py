"""A Prometheus server seen through its HTTP API, for the tests that check what it scraped."""

from __future__ import annotations

import requests


class Prometheus:
    """A Prometheus server and its HTTP API."""

    def __init__(self, url: str):
        self.url = url

    def get(self, path: str, **params) -> dict:
        reply = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]

    def value(self, promql: str) -> float | None:
        """The one value ``promql`` gives now; None when it gives no series."""
        result = self.get("query", query=promql)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def targets(self, job: str) -> dict[str, str]:
        """The health of each target of ``job``, by the URL scraped."""
        return {
            target["scrapeUrl"]: target["health"]
            for target in self.get("targets")["activeTargets"]
            if target["labels"]["job"] == job
        }


def targets_up(prometheus: Prometheus) -> dict[str, str] | None:
    """Every target's health by URL, once every one is up; None until then."""
    targets = prometheus.get("targets")["activeTargets"]
    health = {target["scrapeUrl"]: target["health"] for target in targets}
    return health if health and all(state == "up" for state in health.values()) else None


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False
