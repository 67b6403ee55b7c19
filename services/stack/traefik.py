"""Traefik's configuration for the local stack, from :mod:`.topology`.

The routers, health checks and static options are the topology's; the local
stack adds where its processes listen, and an entry point per API_PORTS port
routed to that one instance. The middlewares are ``traefik/dynamic/``'s,
shared with every other way of running the stack.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bcrypt

from services.settings import Settings

from . import topology

#: The middlewares shared by every way of running the stack.
DYNAMIC_DIR = Path(__file__).resolve().parents[2] / "traefik" / "dynamic"


def htpasswd(user: str, password: str) -> str:
    """A ``user:hash`` line for Traefik's basic auth (bcrypt)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    return f"{user}:{hashed}"


def traefik_env(settings: Settings) -> dict[str, str]:
    """Traefik's environment: what the shared rate-limit middleware reads
    (``traefik/dynamic/middlewares.yml``), the cores its Go runtime uses, and
    how often it collects garbage."""
    return {
        "SUBMIT_RATE": str(settings.submit_rate),
        "SUBMIT_BURST": str(settings.submit_burst),
        "GOMAXPROCS": str(settings.lb_procs),
        "GOGC": str(settings.lb_gogc),
    }


def routes(settings: Settings, instance_ports: tuple[int, ...]) -> dict:
    """The local stack's routers and services (Traefik's file provider).

    API_PORTS: each instance on its own port, through an entry point of
    Traefik's, which reads the requests of slow clients so that no gunicorn
    connection waits on them.
    """
    servers = {
        topology.API.name: [f"http://127.0.0.1:{port}" for port in instance_ports],
        topology.DASHBOARD.name: [f"http://{settings.bind_host}:{settings.dashboard_port}"],
    }
    routers = {
        router.name: {
            "entryPoints": list(router.entry_points),
            "rule": router.rule,
            **({"priority": router.priority} if router.priority else {}),
            "service": router.service,
            **({"middlewares": list(router.middlewares)} if router.middlewares else {}),
        }
        for router in topology.ROUTERS
    }
    services: dict[str, dict] = {}
    for name, port in zip(topology.api_entry_points(settings), instance_ports, strict=True):
        routers[name] = {"entryPoints": [name], "rule": "PathPrefix(`/`)", "service": name}
        services[name] = {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{port}"}]}}
    for app in topology.APP_SERVICES:
        if app.health:
            services[app.name] = {
                "loadBalancer": {
                    "healthCheck": {
                        "path": app.health.path,
                        "interval": app.health.interval,
                        "timeout": app.health.timeout,
                    },
                    "servers": [{"url": url} for url in servers[app.name]],
                }
            }
    return {"http": {"routers": routers, "services": services}}


def write_config(
    settings: Settings, run_dir: Path, *, lb_port: int, instance_ports: tuple[int, ...]
) -> Path:
    """Write static and dynamic configuration under ``run_dir``; return the static file.

    As JSON, which Traefik reads as the YAML it is: running the stack needs no YAML library.
    """
    dynamic_dir = run_dir / "dynamic"
    dynamic_dir.mkdir(parents=True, exist_ok=True)
    for shared in DYNAMIC_DIR.glob("*.yml"):
        shutil.copyfile(shared, dynamic_dir / shared.name)
    (dynamic_dir / "routes.yml").write_text(json.dumps(routes(settings, instance_ports), indent=2))
    entry_points = {
        topology.WEB: f"{settings.lb_host}:{lb_port}",
        **{
            name: f"{settings.bind_host}:{port}"
            for name, port in zip(
                topology.api_entry_points(settings), settings.api_ports, strict=True
            )
        },
        "ping": f"127.0.0.1:{settings.traefik_ping_port}",
        "metrics": f"127.0.0.1:{settings.traefik_metrics_port}",
    }
    static = run_dir / "traefik.yml"
    static.write_text(
        json.dumps(
            topology.traefik_static(
                entry_points,
                providers={"file": {"directory": str(dynamic_dir), "watch": True}},
                log_level="ERROR" if settings.log_level == "ERROR" else "WARN",
            ),
            indent=2,
        )
    )
    return static
