"""Traefik's configuration for the local stack, rendered from ``traefik/``."""

from __future__ import annotations

import shutil
from pathlib import Path

import bcrypt
import jinja2

from services.settings import Settings

#: The project's Traefik configuration: templates and shared dynamic files.
CONFIG_DIR = Path(__file__).resolve().parents[2] / "traefik"


def htpasswd(user: str, password: str) -> str:
    """A ``user:hash`` line for Traefik's basic auth (bcrypt)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    return f"{user}:{hashed}"


def rate_limit_env(settings: Settings) -> dict[str, str]:
    """What the shared rate-limit middleware reads (``traefik/dynamic/middlewares.yml``)."""
    return {"SUBMIT_RATE": str(settings.submit_rate), "SUBMIT_BURST": str(settings.submit_burst)}


def write_config(
    settings: Settings, run_dir: Path, *, lb_port: int, instance_ports: tuple[int, ...]
) -> Path:
    """Write static and dynamic configuration under ``run_dir``; return the static file."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(CONFIG_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    dynamic_dir = run_dir / "dynamic"
    dynamic_dir.mkdir(parents=True, exist_ok=True)
    for shared in (CONFIG_DIR / "dynamic").glob("*.yml"):
        shutil.copyfile(shared, dynamic_dir / shared.name)
    routes = templates.get_template("local/routes.yml.j2").render(
        host=settings.bind_host,
        instances=list(enumerate(instance_ports, start=1)),
        dashboard_port=settings.dashboard_port,
    )
    (dynamic_dir / "routes.yml").write_text(routes)
    static = run_dir / "traefik.yml"
    static.write_text(
        templates.get_template("static.yml.j2").render(
            lb_host=settings.lb_host,
            lb_port=lb_port,
            ping_port=settings.traefik_ping_port,
            metrics_port=settings.traefik_metrics_port,
            instance_entry_points=[
                (number, f"{settings.bind_host}:{port}")
                for number, port in enumerate(settings.api_ports, start=1)
            ],
            dynamic_dir=dynamic_dir,
            log_level="ERROR" if settings.log_level == "ERROR" else "WARN",
        )
    )
    return static
