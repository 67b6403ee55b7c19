"""Which processes make up the local stack, and how each is started.

The services of :mod:`.topology`, as local processes: one Redis (or, with
REDIS_REPLICAS, a master, its replicas and three sentinels), the workers, an
API instance per port, the dashboard and Traefik in front. Their probes and
grace periods are the topology's.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from services import commands
from services.metrics.targets import api_metrics_ports, worker_metrics_ports
from services.settings import Settings

from . import redis_server, sentinel, topology
from .supervisor import ProcessSpec
from .traefik import traefik_env


def _venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def redis(settings: Settings, data_dir: Path) -> ProcessSpec:
    """The server that wrote ``data_dir`` (or any, the first time), which it now remembers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = redis_server.choose_server(data_dir, settings.redis_server)
    redis_server.remember(data_dir, server)
    return ProcessSpec(
        name="redis",
        argv=redis_server.server_command(
            server.path,
            host="127.0.0.1",
            port=settings.redis_port,
            data_dir=data_dir,
            maxmemory=settings.redis_maxmemory,
        ),
        ready_port=settings.redis_port,
        stop_timeout=30,
    )


def redis_ha(settings: Settings, run_dir: Path) -> list[ProcessSpec]:
    """The master and its replicas, then the sentinels, all run by one server.

    The master is the node the sentinels last named; the sentinels, started
    next, learn its replicas from it.
    """
    master_dir, *replica_dirs = sentinel.node_dirs(settings, run_dir)
    master_dir.mkdir(parents=True, exist_ok=True)
    server = redis_server.choose_server(master_dir, settings.redis_server)
    master_port = sentinel.last_master(settings, sentinel.config_files(settings, run_dir))
    nodes = sentinel.nodes(settings, server.path, run_dir, master_port)
    for data_dir in (master_dir, *replica_dirs):
        redis_server.remember(data_dir, server)
    return [*nodes, *sentinel.sentinels(settings, server.path, run_dir, master_port)]


def workers(settings: Settings) -> list[ProcessSpec]:
    return [
        ProcessSpec(
            name=f"worker.{number}",
            argv=commands.worker(dataclasses.replace(settings, worker_metrics_port=metrics_port)),
            env={"INSTANCE_NAME": f"worker.{number}", "WORKER_METRICS_PORT": str(metrics_port)},
            # Jobs in hand finish before the worker exits.
            stop_timeout=topology.stop_seconds(topology.WORKER, settings),
        )
        for number, metrics_port in enumerate(worker_metrics_ports(settings), start=1)
    ]


def api_instances(
    settings: Settings, behind_proxy: tuple[int, ...] | None = None
) -> list[ProcessSpec]:
    """One gunicorn per port of API_PORTS; with ``behind_proxy``, on those loopback ports instead.

    A gthread worker gives a thread to each connection once its first bytes
    arrive, so 200 clients sending their headers slowly hold every thread.
    The local stack therefore puts Traefik on the public ports (one entry
    point per instance, see :mod:`.traefik`): Go holds slow clients, and
    gunicorn only sees whole requests.
    """
    listening, ports = (
        (settings, settings.api_ports)
        if behind_proxy is None
        else (dataclasses.replace(settings, bind_host="127.0.0.1"), behind_proxy)
    )
    return [
        ProcessSpec(
            name=f"api.{number}",
            argv=commands.api(listening, public, listen_port=port),
            env={"INSTANCE_NAME": f"api.{number}", "API_METRICS_PORT": str(metrics_port)},
            ready_url=f"http://{listening.bind_host}:{port}{_health_path(topology.API)}",
            stop_timeout=topology.stop_seconds(topology.API, settings),
        )
        for number, (public, port, metrics_port) in enumerate(
            zip(settings.api_ports, ports, api_metrics_ports(settings), strict=True), 1
        )
    ]


def dashboard(settings: Settings) -> ProcessSpec:
    return ProcessSpec(
        name="dashboard",
        argv=commands.dashboard(settings),
        env={"ADMIN_PASSWORD": settings.admin_password},
        ready_url=f"http://{settings.bind_host}:{settings.dashboard_port}"
        f"{_health_path(topology.DASHBOARD)}",
        stop_timeout=topology.stop_seconds(topology.DASHBOARD, settings),
    )


def _health_path(service: topology.Service) -> str:
    assert service.health, service.name
    return service.health.path


def traefik(settings: Settings, static_config: Path, admin_htpasswd: str) -> ProcessSpec:
    return ProcessSpec(
        name="traefik",
        argv=[_venv_bin("traefik"), f"--configFile={static_config}"],
        env={"ADMIN_HTPASSWD": admin_htpasswd, **traefik_env(settings)},
        ready_url=f"http://127.0.0.1:{settings.traefik_ping_port}/ping",
    )
