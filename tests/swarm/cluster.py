"""A Docker Swarm of three nodes on this machine, running deploy/swarm/stack.yml.

Each node is a Docker engine in a container of the node image that ``make
images-offline`` builds (Debian's docker.io, see docker/offline), on a
private bridge network of its own: a manager and two workers, which reach
each other on the ports Swarm needs (2377, 7946, VXLAN's 4789/udp) and the
host reaches on their addresses there. The host's engine only runs those
containers: it never joins a swarm. Each node gets the project's images it
runs (``docker save | docker load``: there is no registry to pull from), and
the stack is deployed with ``docker stack deploy`` on the manager, whose
Traefik the tests talk to.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import requests

from services.settings import Settings, load_settings
from services.stack.traefik import htpasswd
from tests.e2e.conftest import RunningStack
from tests.support import PROJECT_DIR, env_names, wait_for

#: Built by ``make images-offline`` (docker/offline/build-images).
NODE_IMAGE = "jobqueue-swarm-node:local"
#: Built by ``docker compose build`` (and ``make up``): the api, worker and dashboard.
APP_IMAGE = "jobqueue:local"
STACK_FILE = PROJECT_DIR / "deploy" / "swarm" / "stack.yml"
STACK = "jobqueue"
MANAGER = "manager"
#: The nodes by host name, and the images each runs: the app everywhere,
#: Traefik and Prometheus on the manager, Redis on the node labelled for it.
NODES = {
    MANAGER: (APP_IMAGE, "traefik:v3.7.15", "prom/prometheus:v2.42.0"),
    "worker-1": (APP_IMAGE, "redis:7.4-alpine"),
    "worker-2": (APP_IMAGE,),
}
REDIS_NODE = "worker-1"
#: A node's container: what --privileged gives, but for CAP_SYS_RESOURCE,
#: which some hosts withhold from root (--privileged then fails with "unable
#: to apply caps"); the node's entrypoint makes /sys and the cgroups writable.
#: Its engine keeps images and containers in memory (about 1.3 GB in all):
#: on disk, loading the images took three times as long, and removing a node
#: twenty times.
NODE_FLAGS = [
    "--tmpfs=/var/lib/docker:exec",
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm",
]
#: dockerd's port on the private network (the node image's entrypoint).
ENGINE_PORT = 2375


def engine_problem() -> str | None:
    """Why no swarm can run here, or None when a Docker engine answers."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    result = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    return None if result.returncode == 0 else "no Docker engine answers `docker info`"


def missing_images() -> list[str]:
    """The images the swarm needs that the host's engine lacks, with what builds each."""
    builders = {NODE_IMAGE: "make images-offline", APP_IMAGE: "docker compose build"}
    wanted = {NODE_IMAGE, *(image for images in NODES.values() for image in images)}
    return [
        f"{image} ({builders.get(image, 'make images-offline')})"
        for image in sorted(wanted)
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ]


def docker_argv(*args: str, host: str | None = None) -> list[str]:
    """The command line of ``docker ARGS``, on the host's engine or on ``host``'s."""
    return ["docker", *(["-H", f"tcp://{host}:{ENGINE_PORT}"] if host else []), *args]


def docker(*args: str, host: str | None = None, env=None, timeout: float = 300, **kwargs) -> str:
    """``docker ARGS`` on the host's engine, or on ``host`` (a node's address); its output."""
    argv = docker_argv(*args, host=host)
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


class Swarm:
    """The nodes, their swarm, and the stack deployed on it; :meth:`remove` undoes it all."""

    def __init__(self, variables: dict[str, str]):
        self.prefix = f"jobqueue-swarm-{uuid.uuid4().hex[:8]}"
        self.variables = variables
        self.addresses: dict[str, str] = {}

    def container(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    def start(self, work_dir: Path) -> None:
        """Start the nodes, form the swarm, load the images, deploy the stack."""
        docker("network", "create", self.prefix)
        for node in NODES:
            docker(
                "run", "--detach", "--name", self.container(node), "--hostname", node,
                "--network", self.prefix, *NODE_FLAGS, NODE_IMAGE,
            )  # fmt: skip
            self.addresses[node] = docker(
                "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                self.container(node),
            ).strip()  # fmt: skip
        for node in NODES:
            wait_for(lambda node=node: self.answers(node), timeout=120, interval=0.5,
                     what=f"the engine of node {node}")  # fmt: skip
        manager = self.addresses[MANAGER]
        self.node_docker(MANAGER, "swarm", "init", "--advertise-addr", manager)
        token = self.node_docker(MANAGER, "swarm", "join-token", "--quiet", "worker").strip()
        for node in NODES.keys() - {MANAGER}:
            self.node_docker(node, "swarm", "join", "--token", token, f"{manager}:2377")
        self.docker("node", "update", "--label-add", "jobqueue.redis=true", REDIS_NODE)
        self.load_images(work_dir)
        self.deploy()

    def answers(self, node: str) -> bool:
        argv = ["docker", "-H", f"tcp://{self.addresses[node]}:{ENGINE_PORT}", "info"]
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0

    def load_images(self, work_dir: Path) -> None:
        """Each node's images, saved once from the host's engine, loaded on all nodes at once."""
        archives = {}
        for image in {image for images in NODES.values() for image in images}:
            archives[image] = work_dir / f"{image.replace('/', '_').replace(':', '_')}.tar"
            docker("save", "--output", str(archives[image]), image)
        with concurrent.futures.ThreadPoolExecutor(len(NODES)) as pool:
            loads = [
                pool.submit(self.node_docker, node, "load", "--quiet", "--input", str(archive))
                for node, images in NODES.items()
                for archive in (archives[image] for image in images)
            ]
            for load in loads:
                load.result()
        for archive in archives.values():
            archive.unlink()

    def deploy(self) -> None:
        """``docker stack deploy`` of the stack file, with the test's variables, until converged."""
        self.docker("stack", "deploy", "--resolve-image", "never",
                    "--compose-file", str(STACK_FILE), STACK)  # fmt: skip
        self.wait_until_converged()

    @property
    def deploy_env(self) -> dict[str, str]:
        """The deploying shell: the test's settings, none of the developer's."""
        inherited = {
            name: value
            for name, value in os.environ.items()
            if name not in env_names() and not name.startswith("DOCKER_")
        }
        return {**inherited, **self.variables}

    def node_docker(self, node: str, *args: str, timeout: float = 300) -> str:
        return docker(*args, host=self.addresses[node], timeout=timeout)

    def follow(self, node: str, *args: str) -> subprocess.Popen:
        """``docker ARGS`` on the node, running on: its output a pipe of text lines."""
        return subprocess.Popen(
            docker_argv(*args, host=self.addresses[node]), stdout=subprocess.PIPE, text=True
        )

    def docker(self, *args: str, timeout: float = 300) -> str:
        """``docker ARGS`` on the manager, in the deploying shell's environment."""
        return docker(*args, host=self.addresses[MANAGER], env=self.deploy_env, timeout=timeout)

    def service(self, name: str) -> str:
        return f"{STACK}_{name}"

    def tasks(self, service: str, *, stopping: bool = False) -> list[dict]:
        """The service's tasks meant to run (or, ``stopping``, those told to stop that still
        run): ``ID``, ``Name`` (service.slot), ``Node``, ``CurrentState``."""
        output = self.docker("service", "ps", "--format", "{{json .}}", self.service(service))
        tasks = [json.loads(line) for line in output.splitlines()]
        if stopping:
            return [
                task
                for task in tasks
                if task["DesiredState"] != "Running" and task["CurrentState"].startswith("Running")
            ]
        return [task for task in tasks if task["DesiredState"] == "Running"]

    def replicas(self, service: str) -> int:
        spec = self.docker("service", "inspect", "--format", "{{json .Spec.Mode}}",
                           self.service(service))  # fmt: skip
        return json.loads(spec).get("Replicated", {}).get("Replicas", 1)

    def converged(self) -> bool:
        services = self.docker("service", "ls", "--format", "{{.Name}}").split()
        for service in (name.removeprefix(f"{STACK}_") for name in services):
            tasks = self.tasks(service)
            if len(tasks) != self.replicas(service):
                return False
            if not all(task["CurrentState"].startswith("Running") for task in tasks):
                return False
            if self.tasks(service, stopping=True):
                return False
        return True

    def wait_until_converged(self, timeout: float = 300) -> None:
        """Until every service runs as many tasks as it wants, each healthy, and no others."""
        wait_for(self.converged, timeout=timeout, interval=1, what="the services to converge")

    def hostnames(self, service: str) -> set[str]:
        """What the service's running tasks call themselves (the stack file's ``hostname``)."""
        return {
            f"{service}-{task['Name'].rpartition('.')[2]}.{task['Node']}"
            for task in self.tasks(service)
        }

    def scale(self, service: str, replicas: int) -> None:
        """``docker service scale``: returns once the service has converged."""
        self.docker("service", "scale", "--detach=false", f"{self.service(service)}={replicas}",
                    timeout=600)  # fmt: skip
        self.wait_until_converged()

    def kill(self, node: str) -> None:
        """The node's container, SIGKILLed: the machine lost, with every process on it."""
        docker("kill", self.container(node))

    def remove(self) -> None:
        """The nodes, their engines' data and their network; whatever was started of them."""
        containers = [self.container(node) for node in NODES]
        subprocess.run(["docker", "rm", "--force", "--volumes", *containers], capture_output=True)
        subprocess.run(["docker", "network", "rm", self.prefix], capture_output=True)


class SwarmStack(RunningStack):
    """The stack on the swarm, through Traefik on the manager: the e2e tests' requests."""

    def __init__(self, swarm: Swarm):
        # Not RunningStack.__init__: there is no local Stack behind this one.
        self.swarm = swarm
        self.url = f"http://{swarm.addresses[MANAGER]}:{swarm.variables['LB_PORT']}"
        self.http = requests.Session()
        self.admin = ("admin", swarm.variables["ADMIN_PASSWORD"])
        self._settings = load_settings(swarm.variables)

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def api_names(self) -> set[str]:
        return self.swarm.hostnames("api")

    def wait_until_balanced(self) -> None:
        """Until Traefik routes to every running api task (it reads the swarm every 2 s)."""
        wanted = self.api_names
        served: set[str] = set()

        def all_served():
            # Until Traefik has read the swarm, it answers its own 404, served by no task.
            task = self.get("/").headers.get("X-Served-By")
            if task:
                served.add(task)
            return served >= wanted

        wait_for(all_served, timeout=120, interval=0.05, what=f"Traefik to route to {wanted}")


def swarm_variables() -> dict[str, str]:
    """The stack's settings in the test: small, fast to stop; the rest as deployed by default."""
    password = "e2e-swarm-password"
    return {
        "LB_PORT": "80",
        "ADMIN_PASSWORD": password,
        "ADMIN_HTPASSWD": htpasswd("admin", password),
        "API_REPLICAS": "3",
        "API_PROCESSES": "1",
        "WORKERS": "3",
        "WORKER_THREADS": "2",
        # A stopping worker waits this long for its jobs, well within its grace period.
        "WORKER_SHUTDOWN_TIMEOUT_MS": "20000",
        "WORKER_STOP_GRACE_PERIOD": "30s",
        "DEFAULT_MIN_BACKOFF_MS": "100",
        "STREAM_SLOTS": "24",
        "SUBMIT_RATE": "1000000",
        "SUBMIT_BURST": "1000000",
        "LOG_LEVEL": "WARNING",
    }
