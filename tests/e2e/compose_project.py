"""compose.yml run for real on a Docker engine, as a project of its own on free ports.

Every ``docker compose`` command of a test (and the Makefile's, run by a test)
takes its project, files and variables from the environment that
:class:`ComposeProject` builds: a unique project name, free host ports, the
test's settings, and the admin's credentials in files of the test's own (a
small override file points the dashboard and Traefik at them), so that
neither a developer's ``.env`` nor their ``.run/compose`` takes part, and
their own stack, if one runs, is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import requests

from services.settings import Settings, load_settings
from services.stack import compose as compose_up
from services.stack import topology
from tests.support import PROJECT_DIR, env_names, free_port_range, free_ports, wait_for

from .conftest import RunningStack

#: Traefik's entry points to the api replicas (API_PORT_RANGE): API_PORTS' two.
API_PORT_COUNT = 2


def engine_problem() -> str | None:
    """Why compose cannot run here, or None when a Docker engine and compose answer."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker client on PATH"
    for command, what in (
        (["info"], "no Docker engine answers `docker info`"),
        (["compose", "version"], "no `docker compose` (the compose v2 plugin)"),
    ):
        result = subprocess.run([docker, *command], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            return what
    return None


class ComposeProject:
    """One compose project of compose.yml; ``run`` is ``docker compose`` for it."""

    def __init__(self, work_dir: Path, variables: dict[str, str]):
        self.name = f"jobqueue-test-{uuid.uuid4().hex[:8]}"
        self.settings = load_settings(variables)
        credentials = work_dir / "credentials"
        compose_up.write_env_files(self.settings, credentials)
        override = work_dir / "compose.test.yml"
        override.write_text(
            json.dumps(
                {
                    "services": {
                        service: {"env_file": [str(credentials / f"{service}.env")]}
                        for service in ("dashboard", "traefik")
                    }
                }
            )
        )
        empty_env_file = work_dir / "empty.env"
        empty_env_file.write_text("")
        inherited = {
            name: value
            for name, value in os.environ.items()
            if name not in env_names() and not name.startswith("COMPOSE_")
        }
        self.env = {
            **inherited,
            **variables,
            "COMPOSE_PROJECT_NAME": self.name,
            "COMPOSE_FILE": os.pathsep.join([str(PROJECT_DIR / "compose.yml"), str(override)]),
            "COMPOSE_ENV_FILES": str(empty_env_file),
        }

    def run(self, *args: str, timeout: float = 300) -> str:
        """``docker compose ARGS`` in the project; its output, or a failure showing it."""
        return self.command(["docker", "compose", *args], timeout=timeout)

    def command(self, argv: list[str], timeout: float = 300) -> str:
        result = subprocess.run(
            argv,
            cwd=PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}"
        return result.stdout

    def up(self, *args: str, build: bool = True) -> None:
        """``docker compose up``, with ``--build`` as ``make up`` runs it unless told
        otherwise, but detached: returns once every container is running and healthy."""
        build_flag = ["--build"] if build else []
        self.run(
            "up", *build_flag, "--detach", "--wait", "--wait-timeout", "240", *args, timeout=600
        )

    def containers(self, service: str) -> list[dict]:
        """``docker inspect`` of the service's containers, running or not."""
        ids = self.run("ps", "--all", "--quiet", service).split()
        if not ids:
            return []
        return json.loads(self.command(["docker", "inspect", *ids]))

    def hostnames(self, service: str) -> set[str]:
        """The host names of the service's running containers (the API's X-Served-By)."""
        return {c["Config"]["Hostname"] for c in self.containers(service) if c["State"]["Running"]}

    def addresses(self, service: str) -> list[str]:
        """The addresses of the service's running containers on the project's network,
        which this machine reaches too."""
        return [
            network["IPAddress"]
            for container in self.containers(service)
            if container["State"]["Running"]
            for network in container["NetworkSettings"]["Networks"].values()
        ]

    def redis(self, *commands: str) -> list[str]:
        """Run ``redis-cli`` commands (one a line) in the redis container; one reply a line."""
        result = subprocess.run(
            ["docker", "compose", "exec", "-T", "redis", "redis-cli"],
            input="".join(f"{command}\n" for command in commands),
            cwd=PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    def down(self) -> None:
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "30", timeout=300)


def compose_variables(**overrides: str) -> dict[str, str]:
    """The test stack's settings and compose variables: free ports, small, fast to heal."""
    lb_port, dashboard_port, traefik_metrics_port, prometheus_port = free_ports(4)
    api_first = free_port_range(API_PORT_COUNT)
    variables = {
        "LB_PORT": str(lb_port),
        "DASHBOARD_PORT": str(dashboard_port),
        "TRAEFIK_METRICS_PORT": str(traefik_metrics_port),
        "API_PORT_RANGE": f"{api_first}-{api_first + API_PORT_COUNT - 1}",
        "PROMETHEUS_PORT": str(prometheus_port),
        "WORKERS": "2",
        "WORKER_THREADS": "4",
        "API_PROCESSES": "1",
        "STREAM_SLOTS": "24",
        "DEFAULT_MIN_BACKOFF_MS": "100",
        # A killed worker's jobs run again once its heartbeat is this old.
        "HEARTBEAT_TIMEOUT_MS": "5000",
        "ADMIN_PASSWORD": "e2e-compose-password",
        "LOG_LEVEL": "WARNING",
    }
    variables.update(overrides)
    return variables


class ComposeStack(RunningStack):
    """The compose project seen as a :class:`RunningStack`: the same requests, the same checks.

    What differs are the names and ports of the instances, which compose and
    the engine choose and this class asks them for.
    """

    def __init__(self, project: ComposeProject):
        # Not RunningStack.__init__: there is no local Stack behind this one.
        self.project = project
        self.url = f"http://127.0.0.1:{project.settings.lb_port}"
        self.http = requests.Session()
        self.admin = (project.settings.admin_user, project.settings.admin_password)

    @property
    def settings(self) -> Settings:
        return self.project.settings

    @property
    def api_names(self) -> set[str]:
        return self.project.hostnames("api")

    @property
    def api_urls(self) -> list[str]:
        first = int(self.project.env["API_PORT_RANGE"].partition("-")[0])
        return [f"http://127.0.0.1:{port}" for port in range(first, first + API_PORT_COUNT)]

    #: Traefik's API_PORTS entry points balance over every replica.
    instance_per_api_port = False

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.dashboard_port}"

    @property
    def metrics_targets(self) -> dict[str, list[str]]:
        """Every replica's metrics, where the stack's own Prometheus scrapes them."""
        return {
            job: [f"{address}:{port}" for address in self.project.addresses(service)]
            for job, (service, port) in topology.SCRAPE_JOBS.items()
        }

    @property
    def prometheus_url(self) -> str:
        """The stack's own Prometheus (the compose service)."""
        return f"http://127.0.0.1:{self.project.env['PROMETHEUS_PORT']}"

    def wait_until_balanced(self) -> None:
        """Until Traefik routes to every running api container (it follows Docker's events)."""
        wanted = self.api_names
        served: set[str] = set()

        def all_served():
            served.add(self.get("/").headers["X-Served-By"])
            return served >= wanted

        wait_for(all_served, timeout=60, interval=0.05, what=f"Traefik to route to {wanted}")
