"""Settings for every process of the service, read from the environment.

This is the only module that reads ``os.environ``: everything else receives
a :class:`Settings` (or the parts of it that it needs) as an argument. Each
field is set by the environment variable of the same name in capitals
(``redis_port`` by ``REDIS_PORT``); ``.env.example`` documents them all. The
defaults are the ports the service has always used.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _port(default: int) -> int:
    return field(default=default, metadata={"port": True})


@dataclass(frozen=True)
class Settings:
    # Where Redis is. Empty: the local stack runs a server on redis_port.
    redis_url: str = ""
    redis_port: int = _port(6379)

    # What listens where. Everything binds to loopback unless told otherwise.
    bind_host: str = "127.0.0.1"
    lb_host: str = "127.0.0.1"
    lb_port: int = _port(80)
    # Used instead of a privileged lb_port that the user may not bind.
    lb_fallback_port: int = _port(8080)
    api_ports: tuple[int, ...] = (3000, 3001)
    dashboard_port: int = _port(8082)
    traefik_ping_port: int = _port(8079)

    # How the API serves requests.
    instance_name: str = field(default_factory=socket.gethostname)
    api_processes: int = 2
    api_threads: int = 64
    stream_slots: int = 48
    max_request_bytes: int = 1 << 20
    max_wait_seconds: int = 60
    # How long one event stream lasts before the browser reconnects (and resumes).
    stream_seconds: int = 300

    # Workers.
    workers: int = 1
    worker_processes: int = 1
    worker_threads: int = 8
    worker_shutdown_timeout_ms: int = 600_000
    default_max_retries: int = 3
    default_min_backoff_ms: int = 1_000
    default_time_limit_ms: int = 600_000
    heartbeat_timeout_ms: int = 10_000

    # Jobs: the modules that declare them (comma-separated), and how long records stay.
    job_modules: str = "actors.jobs"
    job_retention_seconds: int = 7 * 24 * 3600

    # The dashboard at /admin. No default password: the local stack makes one up.
    admin_user: str = "admin"
    admin_password: str = ""

    log_level: str = "INFO"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    def to_env(self) -> dict[str, str]:
        """These settings as the environment variables that :func:`load_settings` reads."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            env[f.name.upper()] = (
                ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            )
        return env


def env_names() -> list[str]:
    """Every environment variable the settings read."""
    return [f.name.upper() for f in dataclasses.fields(Settings)]


def _parse(f: dataclasses.Field, raw: str):
    name = f.name.upper()
    if f.type == "str":
        return raw
    if f.type == "tuple[int, ...]":
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        values = tuple(_whole(name, part) for part in parts)
        if not values or len(set(values)) != len(values):
            raise SettingsError(f"{name} must be distinct comma-separated numbers, got {raw!r}")
        for value in values:
            _check_port(name, value)
        return values
    value = _whole(name, raw)
    if f.metadata.get("port"):
        _check_port(name, value)
    elif value < 0:
        raise SettingsError(f"{name} must not be negative, got {value}")
    return value


def _whole(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def _check_port(name: str, value: int) -> None:
    if not 1 <= value <= 65535:
        raise SettingsError(f"{name} must be a port number (1-65535), got {value}")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (the process environment by default).

    Unset and empty variables keep their defaults; a value that cannot be
    used raises :class:`SettingsError` naming the variable.
    """
    env = os.environ if env is None else env
    values = {}
    for f in dataclasses.fields(Settings):
        raw = env.get(f.name.upper(), "").strip()
        if raw:
            values[f.name] = _parse(f, raw)
    settings = Settings(**values)
    for name in ("api_processes", "api_threads", "stream_slots", "worker_processes"):
        if getattr(settings, name) < 1:
            raise SettingsError(f"{name.upper()} must be at least 1")
    if settings.stream_slots >= settings.api_threads:
        raise SettingsError(
            "STREAM_SLOTS must be smaller than API_THREADS so that ordinary requests "
            f"always find a thread (got {settings.stream_slots} >= {settings.api_threads})"
        )
    return dataclasses.replace(settings, log_level=settings.log_level.upper())
