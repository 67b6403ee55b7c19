"""The stacks the end-to-end tests run against.

The local stack, started on free ports exactly as ``make up`` starts it; and
compose.yml on a Docker engine (:mod:`.compose_project`). ``any_stack`` is
each of them in turn, for the checks that are the same in both.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from actors.store import TERMINAL_STATES
from services.metrics.targets import scrape_targets
from services.settings import Settings
from services.stack import plan
from services.stack.stack import Stack

from ..support import free_port_range, free_ports


def stack_settings(**overrides) -> Settings:
    lb, api_1, api_2, dashboard, ping, redis_port, traefik_metrics = free_ports(7)
    values = {
        "lb_port": lb,
        "api_ports": (api_1, api_2),
        "dashboard_port": dashboard,
        "traefik_ping_port": ping,
        # Each instance and worker serves its metrics on the port after the previous one's.
        "api_metrics_port": free_port_range(2),
        "worker_metrics_port": free_port_range(overrides.get("workers", 2)),
        "traefik_metrics_port": traefik_metrics,
        "redis_port": redis_port,
        "workers": 2,
        "worker_threads": 4,
        "api_processes": 1,
        "stream_slots": 24,
        "default_min_backoff_ms": 100,
        "admin_password": "e2e-password",
        "log_level": "WARNING",
        # Every test client is 127.0.0.1: one address standing for many clients.
        "submit_rate": 1_000_000,
        "submit_burst": 1_000_000,
    }
    values.update(overrides)
    return Settings(**values)


class RunningStack:
    """A started :class:`Stack` with an HTTP session aimed at its load balancer."""

    def __init__(self, stack: Stack, log_path: Path):
        self.stack = stack
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{stack.lb_port}"
        self.http = requests.Session()
        self.admin = (stack.settings.admin_user, stack.settings.admin_password)

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.http.post(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def accepts(self, timeout: float = 2) -> bool:
        """Whether a job submitted now is accepted (202): not when refused, or not answered."""
        try:
            response = self.post("/jobs", json={"actor": "add", "args": [1, 2]}, timeout=timeout)
        except requests.RequestException:
            return False
        return response.status_code == 202

    def submit(self, actor: str, **body) -> str:
        """POST /jobs with ``body`` (``args``, ``kwargs``, ``options``); the accepted job's id."""
        response = self.post("/jobs", json={"actor": actor, **body})
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def job(self, job_id: str) -> dict:
        """The job's record, as GET /jobs/{id} gives it."""
        response = self.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def ended(self, job_id: str, timeout: float = 60) -> dict:
        """The job's record once it has ended, asked with ``?wait=`` until ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            wait = max(0, min(deadline - time.monotonic(), self.settings.max_wait_seconds))
            result = self.get(f"/jobs/{job_id}", params={"wait": wait}, timeout=wait + 30)
            assert result.status_code == 200, result.text
            record = result.json()
            if record["state"] in TERMINAL_STATES or time.monotonic() >= deadline:
                assert record["state"] in TERMINAL_STATES, record
                return record

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.http.delete(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    @property
    def metrics_targets(self) -> dict[str, list[str]]:
        """``host:port`` of each service's metrics, by Prometheus job name."""
        return scrape_targets(self.settings)

    @property
    def api_names(self) -> set[str]:
        """What the API instances answer in ``X-Served-By``."""
        return {spec.env["INSTANCE_NAME"] for spec in plan.api_instances(self.settings)}

    @property
    def api_urls(self) -> list[str]:
        """API_PORTS: Traefik's entry points, one instance each, past the load balancer's rules."""
        return [f"http://{self.settings.bind_host}:{port}" for port in self.settings.api_ports]

    #: Whether each of :attr:`api_urls` reaches one instance, always the same.
    instance_per_api_port = True

    @property
    def dashboard_url(self) -> str:
        """The dashboard, directly."""
        return f"http://{self.settings.bind_host}:{self.settings.dashboard_port}"


def start_stack(run_dir: Path, settings: Settings) -> RunningStack:
    """Start a stack whose log goes to ``run_dir/stack.log``; the caller stops it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "stack.log"
    log = log_path.open("a", buffering=1)
    stack = Stack(settings, run_dir, log=log)
    stack.start()
    return RunningStack(stack, log_path)


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> RunningStack:
    """One stack shared by the end-to-end tests that leave it as they found it."""
    running = start_stack(tmp_path_factory.mktemp("stack"), stack_settings())
    try:
        yield running
    finally:
        running.stack.stop()


@pytest.fixture(scope="session")
def compose_project(tmp_path_factory):
    """compose.yml running on a Docker engine, for the whole session, then removed.

    Skipped where no engine runs, but failed in CI, which must run it.
    """
    from .compose_project import ComposeProject, compose_variables, engine_problem

    problem = engine_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}: CI runs the compose tests (.ci/run installs Docker)")
        pytest.skip(f"{problem}: the compose tests need Docker (see the README)")
    project = ComposeProject(tmp_path_factory.mktemp("compose"), compose_variables())
    try:
        yield project
    finally:
        project.down()


@pytest.fixture
def compose_stack(compose_project):
    """The compose stack as compose.yml describes it, whatever the last test did to it."""
    from .compose_project import ComposeStack

    compose_project.up("--remove-orphans")
    running = ComposeStack(compose_project)
    running.wait_until_balanced()
    return running


@pytest.fixture(params=["local", "compose"])
def any_stack(request) -> RunningStack:
    """The local stack, then the compose one: one set of checks for both."""
    return request.getfixturevalue("stack" if request.param == "local" else "compose_stack")
