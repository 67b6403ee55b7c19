"""The local stack: everything ``make up`` starts, as one object tests can start too."""

from __future__ import annotations

import dataclasses
import errno
import os
import secrets
import socket
import sys
import urllib.request
from pathlib import Path
from typing import TextIO

from services.metrics.targets import api_metrics_ports, worker_metrics_ports
from services.redis_policy import check_eviction
from services.settings import Settings, SettingsError

from . import plan, sentinel
from .ports import unused_ports
from .supervisor import (
    ProcessSpec,
    RestartPolicy,
    StackError,
    Supervisor,
    http_ok,
    wait_until,
)
from .traefik import htpasswd, write_config

PROJECT_DIR = Path(__file__).resolve().parents[2]
#: Where ``make up`` keeps what it writes and remembers, in either mode.
RUN_DIR = PROJECT_DIR / ".run"
#: The admin password made up when ADMIN_PASSWORD is unset, under the run directory.
PASSWORD_FILE = "admin-password"


def with_admin_password(settings: Settings, run_dir: Path) -> Settings:
    """``settings``, with an admin password: ADMIN_PASSWORD, else the one made up before.

    There is no default password. One made up is kept in ``run_dir``, readable
    by this user only, and used again by the next ``make up`` (in either mode),
    so that a browser's saved login keeps working.
    """
    if settings.admin_password:
        return settings
    path = run_dir / PASSWORD_FILE
    try:
        password = path.read_text().strip()
    except FileNotFoundError:
        password = ""
    if not password:
        password = secrets.token_urlsafe(18)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_private(path, password + "\n")
    return dataclasses.replace(settings, admin_password=password)


def write_private(path: Path, text: str) -> None:
    """Write ``path`` whole, readable by this user only from the start."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    partial.replace(path)


def lb_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a load balancer listening on ``host:port``."""
    if host in ("127.0.0.1", "0.0.0.0"):
        host = "localhost"
    return f"http://{host}" if port == 80 else f"http://{host}:{port}"


def welcome(url: str, settings: Settings) -> list[str]:
    """What ``make up`` tells the user once the stack runs, in either mode."""
    return [
        f"load balancer   {url}/",
        f"job page        {url}/template",
        f"dashboard       {url}/admin/",
        f"admin login     {settings.admin_user} / {settings.admin_password}"
        " (ADMIN_PASSWORD sets another)",
        "A process that exits is started again; Ctrl-C (or make down) stops everything, "
        "and running jobs finish first.",
    ]


def with_sentinels(settings: Settings) -> Settings:
    """``settings``, naming the local stack's sentinels when it runs them (REDIS_REPLICAS)."""
    if not settings.redis_replicas or not runs_redis(settings):
        return settings
    return dataclasses.replace(
        settings,
        redis_sentinels=tuple(f"{sentinel.HOST}:{port}" for port in settings.sentinel_ports),
    )


def runs_redis(settings: Settings) -> bool:
    """Whether the stack runs Redis itself: unless REDIS_URL or REDIS_SENTINELS names one."""
    return not settings.redis_url and not settings.redis_sentinels


class Stack:
    """Redis (unless REDIS_URL or REDIS_SENTINELS name one), workers, API instances, dashboard,
    Traefik.

    Settings without an admin password get the one kept in ``run_dir`` (see
    :func:`with_admin_password`), readable as ``stack.settings.admin_password``.
    """

    def __init__(self, settings: Settings, run_dir: Path, *, log: TextIO = sys.stdout):
        #: Whether this stack runs Redis (and its sentinels) itself.
        self.runs_redis = runs_redis(settings)
        settings = with_sentinels(with_admin_password(settings, run_dir))
        self.settings = settings
        self.run_dir = run_dir
        self.lb_port = settings.lb_port
        #: Where the API instances listen, on loopback, behind Traefik's entry points (API_PORTS).
        self.instance_ports: tuple[int, ...] = ()
        env = {**os.environ, **settings.to_env(), "REDIS_URL": settings.effective_redis_url}
        # Only the dashboard needs the password.
        env.pop("ADMIN_PASSWORD")
        restart = RestartPolicy(
            first_delay=settings.restart_delay_seconds,
            max_delay=settings.restart_max_delay_seconds,
        )
        self.supervisor = Supervisor(cwd=PROJECT_DIR, log=log, base_env=env, restart=restart)

    @property
    def url(self) -> str:
        """Where a browser on this machine reaches the load balancer."""
        return lb_url(self.settings.lb_host, self.lb_port)

    def start(self) -> None:
        settings = self.settings
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.lb_port = self._choose_lb_port()
        ports = [*settings.api_ports, settings.dashboard_port, settings.traefik_ping_port]
        ports += [*api_metrics_ports(settings), *worker_metrics_ports(settings)]
        ports.append(settings.traefik_metrics_port)
        for port in ports:
            _check_free(settings.bind_host, port)
        redis_ports = self._redis_ports()
        for port in redis_ports:
            _check_free(
                "127.0.0.1", port, hint="or set REDIS_URL to use the Redis that listens there"
            )
        if not self.runs_redis:
            try:
                check_eviction(settings)
            except SettingsError as error:
                raise StackError(str(error)) from None
        # Before anything is written or started: the one program a machine may lack.
        redis = self._redis()
        self.instance_ports = tuple(
            unused_ports(
                len(settings.api_ports),
                avoid={*ports, self.lb_port, *redis_ports},
            )
        )
        static = write_config(
            settings,
            self.run_dir / "traefik",
            lb_port=self.lb_port,
            instance_ports=self.instance_ports,
        )
        try:
            for spec in redis:
                self.supervisor.start(spec)
            if redis and settings.redis_replicas:
                wait_until(
                    lambda: sentinel.know_every_replica(settings),
                    timeout=30,
                    what="the sentinels to know every replica",
                )
            for spec in [
                *plan.workers(settings),
                *plan.api_instances(settings, behind_proxy=self.instance_ports),
                plan.dashboard(settings),
                plan.traefik(
                    settings, static, htpasswd(settings.admin_user, settings.admin_password)
                ),
            ]:
                self.supervisor.start(spec)
            wait_until(
                lambda: (
                    http_ok(f"http://127.0.0.1:{self.lb_port}/healthz")
                    and _status(f"http://127.0.0.1:{self.lb_port}/admin/") == 401
                ),
                timeout=30,
                what="Traefik to route the API and the dashboard",
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.supervisor.stop()

    def _redis_ports(self) -> list[int]:
        """The ports of the Redis processes this stack runs: its nodes and sentinels."""
        if not self.runs_redis:
            return []
        if not self.settings.redis_replicas:
            return [self.settings.redis_port]
        return [*sentinel.node_ports(self.settings), *self.settings.sentinel_ports]

    def _redis(self) -> list[ProcessSpec]:
        if not self.runs_redis:
            return []
        if self.settings.redis_replicas:
            return plan.redis_ha(self.settings, self.run_dir)
        return [plan.redis(self.settings, self.run_dir / "redis")]

    def _choose_lb_port(self) -> int:
        """The configured port, or the fallback when a non-root user may not bind it."""
        settings = self.settings
        try:
            _check_free(settings.lb_host, settings.lb_port)
        except PermissionError:
            self.supervisor.say(
                "stack",
                f"port {settings.lb_port} needs privileges this user lacks; "
                f"the load balancer listens on {settings.lb_fallback_port} instead "
                "(set LB_PORT to choose)",
            )
            _check_free(settings.lb_host, settings.lb_fallback_port)
            return settings.lb_fallback_port
        return settings.lb_port


def _check_free(host: str, port: int, hint: str = "or choose another port in .env") -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except PermissionError:
            raise
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise StackError(
                    f"port {port} on {host} is in use; stop what uses it, {hint}"
                ) from None
            raise


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0
