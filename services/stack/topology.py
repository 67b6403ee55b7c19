"""The stack's topology, written once: its services, where each listens, how
each is checked, routed, stopped and scaled.

Every way of running the stack reads it. The local stack starts its processes
from it (:mod:`.plan`, :mod:`.traefik`), and ``make deploy-files``
(:mod:`.deploy_files`) writes ``compose.yml``, the Swarm stack and the
Kubernetes manifests from it; a test fails when a written file differs from
what it gives, as one does for ``make docs``.

It is Python rather than a data file because most of it is derived: a
worker's grace period from WORKER_SHUTDOWN_TIMEOUT_MS, the settings a
container is given from :mod:`services.settings`, its command line from
:mod:`services.commands` (through the image's entrypoint). A data file would
need a loader and a schema of its own and still leave those rules in code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from services.settings import FIELDS, Settings

#: Where a container of each service listens, one instance a container.
API_PORT = 3000
API_METRICS_PORT = 9200
WORKER_METRICS_PORT = 9300
DASHBOARD_PORT = 8082
REDIS_PORT = 6379
TRAEFIK_WEB_PORT = 80
TRAEFIK_PING_PORT = 8079
TRAEFIK_METRICS_PORT = 8078

#: Traefik's entry point for clients, and the prefix of those for API_PORTS.
WEB = "web"
API_ENTRY_POINT = "api"


@dataclasses.dataclass(frozen=True)
class HealthCheck:
    """The path that answers while a process serves, and how often Traefik asks it."""

    path: str
    #: Traefik's interval and timeout: a dead instance leaves the rotation within one.
    interval: str
    timeout: str


@dataclasses.dataclass(frozen=True)
class Router:
    """A Traefik router: requests matching ``rule`` go to ``service`` through ``middlewares``.

    Middlewares are those of ``traefik/dynamic/``, shared by every way of running.
    """

    name: str
    rule: str
    service: str
    middlewares: tuple[str, ...] = ()
    priority: int = 0
    entry_points: tuple[str, ...] = (WEB,)


@dataclasses.dataclass(frozen=True)
class Service:
    """One of the services that run the image (``python -m services.entrypoint NAME``)."""

    name: str
    #: What it is, said above it in the written files.
    about: str
    #: Where a container of it serves HTTP; None for a worker, which serves nothing.
    port: int | None
    #: Where it serves its Prometheus metrics (``/metrics``).
    metrics_port: int
    #: What Traefik and the container engines probe; None: nothing to probe.
    health: HealthCheck | None = None
    #: The path that fails while the service cannot do its work (Redis refuses writes).
    ready_path: str | None = None
    routers: tuple[Router, ...] = ()
    #: Settings it reads from a secret (the admin's credentials, the API keys).
    secrets: tuple[str, ...] = ()


API = Service(
    name="api",
    about="The HTTP API (Falcon on gunicorn), reached through Traefik only.",
    port=API_PORT,
    metrics_port=API_METRICS_PORT,
    health=HealthCheck("/healthz", interval="250ms", timeout="1s"),
    ready_path="/readyz",
    routers=(
        # Every path; a request that reached no instance goes to another.
        # Submissions (POST, and GET /template) are limited per client.
        Router(
            "api",
            "PathPrefix(`/`)",
            "api",
            middlewares=("submit-rate-limit@file", "api-retry@file"),
            priority=1,
        ),
        # Requests that may be sent twice are retried on a 502 as well: not
        # GET /template, which submits a job, and would submit a second one
        # if the instance that took the first died before answering.
        Router(
            "api-idempotent",
            "PathPrefix(`/`) && !Method(`POST`) && !Method(`PATCH`) && !Path(`/template`)",
            "api",
            middlewares=("api-retry-idempotent@file",),
            priority=2,
        ),
    ),
    secrets=("API_KEYS",),
)
WORKER = Service(
    name="worker",
    about=(
        "Dramatiq workers: they run the jobs. Told to stop, a worker takes no new"
        " job, lets those it runs finish (up to WORKER_SHUTDOWN_TIMEOUT_MS) and puts"
        " those it fetched back on the queue; its grace period covers that."
    ),
    port=None,
    metrics_port=WORKER_METRICS_PORT,
)
DASHBOARD = Service(
    name="dashboard",
    about=(
        "dramatiq-dashboard and the admin pages, at /admin behind Traefik's basic"
        " auth, asking for the same credentials itself. Its /metrics reads the"
        " queues from Redis."
    ),
    port=DASHBOARD_PORT,
    metrics_port=DASHBOARD_PORT,
    health=HealthCheck("/healthz", interval="5s", timeout="2s"),
    routers=(
        Router(
            "admin",
            "Path(`/admin`) || PathPrefix(`/admin/`)",
            "dashboard",
            middlewares=("admin-auth@file",),
        ),
    ),
    secrets=("ADMIN_USER", "ADMIN_PASSWORD"),
)
APP_SERVICES = (API, WORKER, DASHBOARD)


def service(name: str) -> Service:
    (found,) = [candidate for candidate in APP_SERVICES if candidate.name == name]
    return found


def replicas(service: Service, settings: Settings) -> int:
    """How many instances run: one per API_PORTS port, WORKERS workers, one dashboard."""
    if service is API:
        return len(settings.api_ports)
    if service is WORKER:
        return settings.workers
    return 1


def stop_seconds(service: Service, settings: Settings) -> int:
    """How long a stopping instance is given before it is killed.

    A worker waits up to WORKER_SHUTDOWN_TIMEOUT_MS for its running jobs, then
    hands back what it had fetched: a margin more. gunicorn's graceful timeout
    is 10 s; an API process also closes its streams.
    """
    if service is WORKER:
        return math.ceil(settings.worker_shutdown_timeout_ms / 1000) + 15
    if service is API:
        return 20
    return 15


def api_entry_points(settings: Settings) -> list[str]:
    """Traefik's entry points for API_PORTS, one per port: api-1, api-2, ..."""
    return [f"{API_ENTRY_POINT}-{number}" for number in range(1, len(settings.api_ports) + 1)]


#: Settings an app container does not read from the environment, and why.
NOT_PASSED_TO_CONTAINERS = {
    # The local stack's own processes and ports; containers listen on fixed ones.
    "REDIS_PORT": "local stack",
    "LB_HOST": "Traefik's published port",
    "LB_PORT": "Traefik's published port",
    "LB_FALLBACK_PORT": "local stack",
    "TRAEFIK_PING_PORT": "local stack",
    "RESTART_DELAY_SECONDS": "local stack",
    "RESTART_MAX_DELAY_SECONDS": "local stack",
    "REDIS_SERVER": "local stack",
    "REDIS_REPLICAS": "local stack",
    "SENTINEL_PORTS": "local stack",
    # The redis service's command line, and the sentinels' own.
    "REDIS_MAXMEMORY": "redis command",
    "SENTINEL_DOWN_AFTER_MS": "sentinels",
    "SENTINEL_FAILOVER_TIMEOUT_MS": "sentinels",
    "TRAEFIK_METRICS_PORT": "Traefik's published port",
    # Set per service: the port of its container, the replica count, the
    # container's host name, the credentials from a secret.
    "API_PORTS": "per service",
    "API_METRICS_PORT": "per service",
    "DASHBOARD_PORT": "per service",
    "WORKER_METRICS_PORT": "per service",
    "WORKERS": "replicas",
    "INSTANCE_NAME": "the container's host name",
    "ADMIN_USER": "secret",
    "ADMIN_PASSWORD": "secret",
    # Traefik's, from its own environment.
    "SUBMIT_RATE": "Traefik",
    "SUBMIT_BURST": "Traefik",
    "LB_PROCS": "Traefik",
    "LB_GOGC": "Traefik",
}


def passed_settings() -> list[str]:
    """The settings every app container takes from the deployment's environment."""
    names = [name.upper() for name in FIELDS]
    return [name for name in names if name not in NOT_PASSED_TO_CONTAINERS]


def own_settings(service: Service) -> dict[str, str]:
    """What a container of ``service`` is told of its own place: one port each."""
    own = {"BIND_HOST": "0.0.0.0"}
    if service is API:
        own |= {"API_PORTS": str(API_PORT), "API_METRICS_PORT": str(API_METRICS_PORT)}
    elif service is WORKER:
        own |= {"WORKER_METRICS_PORT": str(WORKER_METRICS_PORT)}
    elif service is DASHBOARD:
        own |= {"DASHBOARD_PORT": str(DASHBOARD_PORT)}
    return own


def traefik_static(
    entry_points: Mapping[str, str], *, providers: dict, log_level: str = "WARN"
) -> dict:
    """Traefik's static configuration, for entry points named to their addresses.

    ``entry_points`` names the client entry point (:data:`WEB`), those for
    API_PORTS, ``ping`` (health checks only) and ``metrics``. Traefik's own API
    and dashboard stay off.
    """
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        # WSGI reads X_Forwarded_For as X-Forwarded-For: such aliases are dropped
        # so that no client can spoof a header Traefik sets.
        "entryPoints": {
            name: {"address": address, "http": {"aliasHeadersStrategy": "delete"}}
            for name, address in entry_points.items()
        },
        "ping": {"entryPoint": "ping"},
        "metrics": {
            "prometheus": {
                "entryPoint": "metrics",
                "addEntryPointsLabels": True,
                "addServicesLabels": True,
            }
        },
        "api": {"dashboard": False},
        "providers": providers,
        # Below gunicorn's keep-alive (5 s), so Traefik never reuses a
        # connection that the instance is closing.
        "serversTransport": {"forwardingTimeouts": {"idleConnTimeout": "3s"}},
        "log": {"level": log_level},
    }


#: Prometheus's jobs: each scrapes ``/metrics`` of every instance of a service, on this port.
SCRAPE_JOBS = {
    # Requests by route, method and status; latency; jobs submitted.
    "api": (API.name, API.metrics_port),
    # Jobs started, succeeded, failed, retried, dead; run time; in progress.
    "worker": (WORKER.name, WORKER.metrics_port),
    # Queues, workers and workflows, read from Redis when scraped.
    "queues": (DASHBOARD.name, DASHBOARD.metrics_port),
    # Traefik's own: requests by entry point and service.
    "traefik": ("traefik", TRAEFIK_METRICS_PORT),
}
PROMETHEUS_PORT = 9090

#: Every router of the stack but those of API_PORTS, which each way of running places itself.
ROUTERS = tuple(router for app in APP_SERVICES for router in app.routers)
