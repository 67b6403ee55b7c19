"""``compose.yml``, from :mod:`.topology`: the stack on one Docker engine.

Settings come from ``.env`` or the shell, by the names the local stack reads:
an empty value means the default of :mod:`services.settings`, so that
defaults live in one place. The admin's credentials come from files that
``make up`` writes under ``.run/compose/`` (see :mod:`.compose`).
"""

from __future__ import annotations

from services.settings import Settings

from . import topology
from .redis_server import data_options

#: The image of the api, worker and dashboard services, which the api service builds.
IMAGE = "jobqueue:local"
REDIS_IMAGE = "redis:7.4-alpine"
TRAEFIK_VERSION = "3.7.15"
TRAEFIK_IMAGE = f"traefik:v{TRAEFIK_VERSION}"
PROMETHEUS_IMAGE = "prom/prometheus:v2.42.0"
#: Prometheus's configuration in the containers: it finds every replica by DNS.
PROMETHEUS_CONFIG = "prometheus/containers.yml"
#: What every long-running container has: restarted unless stopped, no privilege gained.
HARDENED = {"restart": "unless-stopped", "security_opt": ["no-new-privileges:true"]}
#: A container's own health check: how often, how long, how many failures, and
#: how long a start may take before failures count.
CONTAINER_CHECK = {"interval": "5s", "timeout": "5s", "retries": 3, "start_period": "60s"}
REDIS_CHECK = {"interval": "5s", "timeout": "3s", "retries": 5}
#: Redis answers a ping: healthy.
REDIS_PING_CHECK = {"test": ["CMD-SHELL", "redis-cli ping | grep -q PONG"], **REDIS_CHECK}
#: Traefik answers on its ping entry point: healthy.
TRAEFIK_CHECK = {
    "test": [
        "CMD",
        "wget",
        "-q",
        "--spider",
        f"http://127.0.0.1:{topology.TRAEFIK_PING_PORT}/ping",
    ],
    "interval": "5s",
    "timeout": "3s",
    "retries": 3,
}
#: The sentinels of the ha profile, each by its host name.
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
SENTINEL_PORT = 26379

HEADER = """\
# Written by `make deploy-files` from services/stack/topology.py: change that,
# not this file (a test fails when the two differ).
#
# The whole stack on Docker. `make up` runs it (it also makes the admin's
# credentials, see services/stack/compose.py); afterwards plain `docker compose`
# works too: `docker compose up --scale worker=3 --scale api=3`.
# Settings come from .env (see .env.example), with the names the local stack
# uses; an empty value means the default of services/settings.py.
"""

#: Comments above each service, by name.
ABOUT = {
    "redis": "The job broker and the job records, reached by the other containers only.",
    "redis-replica": (
        "Profile ha (make up REDIS_REPLICAS=1, or COMPOSE_PROFILES=ha with"
        " REDIS_SENTINELS=sentinel-1:26379,sentinel-2:26379,sentinel-3:26379): a"
        " replica of redis and three sentinels, which promote it when redis stays"
        " silent for SENTINEL_DOWN_AFTER_MS; the services find the master through"
        ' them (see the README, "High availability"). Everything goes by host name.'
    ),
    "sentinel-1": ("A sentinel rewrites its configuration file: written afresh at each start."),
    "api": (
        f"{topology.API.about} On the load balancer's port, and on 127.0.0.1:3000 and"
        " 3001 (API_PORT_RANGE, a variable of this file only), which balance over every"
        " replica. gunicorn gives a connection to the app once its first bytes arrive;"
        " Traefik reads slow clients' requests instead. The one service that builds the"
        " image: when three did, the tag ended on one of their images, and the next"
        " `up --scale` recreated the containers made from the others."
    ),
    "worker": f"{topology.WORKER.about} No healthcheck: a worker serves nothing.",
    "dashboard": (
        f"{topology.DASHBOARD.about} Also on 127.0.0.1:8082/admin/. Its credentials come"
        " from .run/compose/dashboard.env, written by `make up`: without them it refuses"
        " to start."
    ),
    "prometheus": (
        "Prometheus, on 127.0.0.1:9090 (PROMETHEUS_PORT, a variable of this file only):"
        " it finds every replica of each service by the service's name, however many"
        " `--scale` runs, and scrapes it inside the network; no replica publishes a port"
        " for its metrics. The alerts are prometheus/alerts.yml."
    ),
    "traefik": (
        "The load balancer, the one way in: routes from the labels above, the"
        " middlewares from traefik/dynamic/ (shared with the local stack). /ping answers"
        " on the container's loopback only, for the healthcheck. ADMIN_HTPASSWD, which"
        " the shared middlewares read, comes from .run/compose/traefik.env (written by"
        " `make up`). Access to the Docker API, read-only as it is, is still root on the"
        " host: nothing else in this stack gets it."
    ),
}


def interpolated(name: str, default: str = "") -> str:
    """``${NAME:-default}``: the variable from .env or the shell, else ``default``."""
    return f"${{{name}:-{default}}}"


def app_environment(service: topology.Service) -> dict[str, str]:
    environment = {name: interpolated(name) for name in topology.passed_settings()}
    environment["REDIS_URL"] = interpolated("REDIS_URL", f"redis://redis:{topology.REDIS_PORT}/0")
    return environment | topology.own_settings(service)


def http_check(port: int, path: str) -> list[str]:
    """A container health check that needs nothing but the image's Python."""
    script = f"import urllib.request as r; r.urlopen('http://127.0.0.1:{port}{path}', timeout=2)"
    return ["CMD", "python", "-c", script]


def traefik_labels(service: topology.Service, settings: Settings) -> dict[str, str]:
    """The routers ending at ``service`` and its load balancer, as Traefik's Docker labels."""
    labels = {"traefik.enable": "true"}
    routers = [router for router in topology.ROUTERS if router.service == service.name]
    if service is topology.API:
        # API_PORTS: Traefik's own entry points, without the submission rate limit.
        direct = topology.Router(
            "api-direct",
            "PathPrefix(`/`)",
            "api",
            entry_points=tuple(topology.api_entry_points(settings)),
        )
        routers.append(direct)
    for router in routers:
        prefix = f"traefik.http.routers.{router.name}"
        labels[f"{prefix}.entrypoints"] = ",".join(router.entry_points)
        labels[f"{prefix}.rule"] = router.rule
        if router.priority:
            labels[f"{prefix}.priority"] = str(router.priority)
        labels[f"{prefix}.service"] = router.service
        if router.middlewares:
            labels[f"{prefix}.middlewares"] = ",".join(router.middlewares)
    assert service.health and service.port
    prefix = f"traefik.http.services.{service.name}.loadbalancer"
    labels[f"{prefix}.server.port"] = str(service.port)
    labels[f"{prefix}.healthcheck.path"] = service.health.path
    labels[f"{prefix}.healthcheck.interval"] = service.health.interval
    labels[f"{prefix}.healthcheck.timeout"] = service.health.timeout
    return labels


def app_service(service: topology.Service, settings: Settings) -> dict:
    spec: dict = {
        "image": IMAGE,
        # Built here, never pulled: there is no such image in a registry.
        "pull_policy": "never",
        "init": True,
        **HARDENED,
        "depends_on": {"redis": {"condition": "service_healthy"}},
        "command": service.name,
    }
    if service is topology.API:
        spec |= {"build": ".", "pull_policy": "build"}
    if service is topology.WORKER:
        spec["deploy"] = {"replicas": interpolated("WORKERS", str(settings.workers))}
    elif service is topology.API:
        spec["deploy"] = {"replicas": topology.replicas(service, settings)}
    spec["environment"] = app_environment(service)
    if service.secrets and service is topology.DASHBOARD:
        spec["env_file"] = [{"path": ".run/compose/dashboard.env", "required": False}]
    if service is topology.DASHBOARD:
        spec["ports"] = [f"127.0.0.1:{interpolated('DASHBOARD_PORT', '8082')}:{service.port}"]
    if service.health and service.port:
        spec["healthcheck"] = {
            "test": http_check(service.port, service.health.path),
            **CONTAINER_CHECK,
        }
        spec["labels"] = traefik_labels(service, settings)
    spec["stop_grace_period"] = f"{topology.stop_seconds(service, settings)}s"
    return spec


def redis_command(*extra: str) -> list[str]:
    return ["redis-server", *extra, *data_options(interpolated("REDIS_MAXMEMORY", "0"))]


def redis_services() -> dict[str, dict]:
    master = interpolated("REDIS_MASTER_NAME", "jobqueue")
    sentinel_conf = "\n".join(
        [
            f"port {SENTINEL_PORT}",
            "sentinel resolve-hostnames yes",
            "sentinel announce-hostnames yes",
            f"sentinel monitor {master} redis {topology.REDIS_PORT} 2",
            f"sentinel down-after-milliseconds {master}"
            f" {interpolated('SENTINEL_DOWN_AFTER_MS', '2000')}",
            f"sentinel failover-timeout {master}"
            f" {interpolated('SENTINEL_FAILOVER_TIMEOUT_MS', '10000')}",
            "",
        ]
    )
    services = {
        "redis": {
            "image": REDIS_IMAGE,
            # Named so by the master it replicates, once a failover made it a replica.
            "command": redis_command("--replica-announce-ip", "redis"),
            "volumes": ["redis-data:/data"],
            "healthcheck": REDIS_PING_CHECK,
            **HARDENED,
        },
        "redis-replica": {
            "image": REDIS_IMAGE,
            "profiles": ["ha"],
            "command": redis_command(
                "--replicaof",
                "redis",
                str(topology.REDIS_PORT),
                "--replica-announce-ip",
                "redis-replica",
            ),
            "volumes": ["redis-replica-data:/data"],
            "depends_on": {"redis": {"condition": "service_healthy"}},
            "healthcheck": REDIS_PING_CHECK,
            **HARDENED,
        },
    }
    for name in SENTINELS:
        services[name] = {
            "image": REDIS_IMAGE,
            "profiles": ["ha"],
            "environment": {"SENTINEL_NAME": name, "SENTINEL_CONF": sentinel_conf},
            "command": [
                "sh",
                "-c",
                'printf \'%s\\nsentinel announce-ip %s\\n\' "$$SENTINEL_CONF" "$$SENTINEL_NAME"'
                " > /tmp/sentinel.conf && exec redis-server /tmp/sentinel.conf --sentinel",
            ],
            "depends_on": {"redis": {"condition": "service_healthy"}},
            "healthcheck": {
                "test": ["CMD-SHELL", f"redis-cli -p {SENTINEL_PORT} ping | grep -q PONG"],
                **REDIS_CHECK,
            },
            **HARDENED,
        }
    return services


def traefik_flags(static: dict, prefix: str = "--") -> list[str]:
    """Traefik's static configuration as its command-line flags."""
    flags = []
    for key, value in static.items():
        if isinstance(value, dict):
            flags += traefik_flags(value, f"{prefix}{key}.")
        else:
            flags.append(
                f"{prefix}{key}={str(value).lower() if isinstance(value, bool) else value}"
            )
    return flags


def traefik_service(settings: Settings) -> dict:
    api_ports = [topology.API_PORT + offset for offset in range(len(settings.api_ports))]
    entry_points = {
        topology.WEB: f":{topology.TRAEFIK_WEB_PORT}",
        **{
            name: f":{port}"
            for name, port in zip(topology.api_entry_points(settings), api_ports, strict=True)
        },
        "ping": f"127.0.0.1:{topology.TRAEFIK_PING_PORT}",
        "metrics": f":{topology.TRAEFIK_METRICS_PORT}",
    }
    static = topology.traefik_static(
        entry_points,
        providers={
            "docker": {
                "exposedByDefault": False,
                # Only this project's containers: another stack on the same
                # engine declares the same routers, on a network of its own.
                "constraints": "Label(`com.docker.compose.project`,`${COMPOSE_PROJECT_NAME}`)",
            },
            "file": {"directory": "/etc/traefik/dynamic", "watch": True},
        },
    )
    api_range = f"{api_ports[0]}-{api_ports[-1]}"
    return {
        "image": TRAEFIK_IMAGE,
        "command": ["--providers.docker=true", *traefik_flags(static)],
        "env_file": [{"path": ".run/compose/traefik.env", "required": False}],
        "ports": [
            f"{interpolated('LB_HOST', settings.lb_host)}:{interpolated('LB_PORT', '80')}"
            f":{topology.TRAEFIK_WEB_PORT}",
            f"127.0.0.1:{interpolated('API_PORT_RANGE', api_range)}:{api_range}",
            f"127.0.0.1:{interpolated('TRAEFIK_METRICS_PORT', str(settings.traefik_metrics_port))}"
            f":{topology.TRAEFIK_METRICS_PORT}",
        ],
        "volumes": [
            "/var/run/docker.sock:/var/run/docker.sock:ro",
            "./traefik/dynamic:/etc/traefik/dynamic:ro",
        ],
        "healthcheck": TRAEFIK_CHECK,
        "depends_on": {
            app.name: {"condition": "service_healthy"}
            for app in topology.APP_SERVICES
            if app.routers
        },
        **HARDENED,
    }


def prometheus_config(names: dict[str, str]) -> dict:
    """Prometheus scraping each job's service, found by DNS: ``names`` maps a
    service to the name that resolves to all of its instances."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [
            {
                "job_name": job,
                "dns_sd_configs": [
                    # Replicas added or removed are seen within seconds.
                    {"names": [names[service]], "type": "A", "port": port, "refresh_interval": "5s"}
                ],
            }
            for job, (service, port) in topology.SCRAPE_JOBS.items()
        ],
    }


def prometheus_service() -> dict:
    return {
        "image": PROMETHEUS_IMAGE,
        "command": [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            f"--web.listen-address=:{topology.PROMETHEUS_PORT}",
        ],
        "volumes": [
            f"./{PROMETHEUS_CONFIG}:/etc/prometheus/prometheus.yml:ro",
            "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro",
            "prometheus-data:/prometheus",
        ],
        "ports": [
            f"127.0.0.1:{interpolated('PROMETHEUS_PORT', str(topology.PROMETHEUS_PORT))}"
            f":{topology.PROMETHEUS_PORT}"
        ],
        **HARDENED,
    }


def compose(settings: Settings) -> dict:
    """compose.yml as a mapping: its services in the order they start."""
    return {
        "name": "jobqueue",
        "services": {
            **redis_services(),
            **{app.name: app_service(app, settings) for app in topology.APP_SERVICES},
            "traefik": traefik_service(settings),
            "prometheus": prometheus_service(),
        },
        "volumes": {"redis-data": {}, "redis-replica-data": {}, "prometheus-data": {}},
    }
