"""``deploy/swarm/stack.yml``, from :mod:`.topology`: the stack on a Docker Swarm.

What a Swarm needs that compose does not, as tests/swarm proved on three
nodes:

- ``endpoint_mode: dnsrr`` everywhere. A service's virtual IP needs IPVS in
  the kernel, which not every kernel has (connections to a VIP time out);
  with dnsrr a service's name resolves to its tasks' addresses, and Traefik's
  swarm provider routes to each task itself.
- Published ports in mode host, on the node that runs the task (the routing
  mesh is IPVS too): Traefik runs on a manager, and clients reach it there.
- Traefik's labels under ``deploy.labels`` (those are the service's), with
  the port of the servers named.
- ``docker stack deploy`` reads no ``.env``, builds nothing and ignores
  ``depends_on``: settings come from the deploying shell, the image is loaded
  or pulled on each node, and every service waits for Redis by itself.
"""

from __future__ import annotations

from services.settings import Settings

from . import compose_file, topology
from .compose_file import interpolated

NETWORK = "jobqueue"
#: Prometheus's configuration in a Swarm: a service's tasks are ``tasks.NAME``.
PROMETHEUS_CONFIG = "prometheus/swarm.yml"
#: How soon Traefik routes to tasks that come and go (15 s by default).
TRAEFIK_REFRESH_SECONDS = 2

HEADER = """\
# Written by `make deploy-files` from services/stack/topology.py: change that,
# not this file (see services/stack/swarm_file.py for what a Swarm needs).
#
# The whole stack on a Docker Swarm of one or more nodes:
#
#     docker node update --label-add jobqueue.redis=true NODE   # where Redis keeps its data
#     ADMIN_PASSWORD=... ADMIN_HTPASSWD='admin:$2y$...' \\
#         docker stack deploy --compose-file deploy/swarm/stack.yml jobqueue
#
# The images must be on every node (jobqueue:local is built, never pulled: load
# it with `docker save jobqueue:local | docker -H NODE load`, or push it to a
# registry of yours and set JOBQUEUE_IMAGE). Settings come from the deploying
# shell's environment, with the names of services/settings.py.
"""

ABOUT = {
    "redis": "One Redis, on the node labelled jobqueue.redis=true, where its volume is.",
    "api": (
        f"{topology.API.about} Spread over the nodes. An update starts the new task"
        " before it stops the old one; Traefik's health check and its retry of idempotent"
        " requests carry the requests in flight over."
    ),
    "worker": (
        f"{topology.WORKER.about} Spread over the nodes; the grace period outlasts"
        " WORKER_SHUTDOWN_TIMEOUT_MS, so Swarm's SIGKILL never comes."
    ),
    "dashboard": topology.DASHBOARD.about,
    "traefik": (
        "The load balancer, on a manager (the swarm provider reads the services there),"
        " published on that node's port LB_PORT. Access to the Docker API is root on the"
        " manager: nothing else gets it."
    ),
    "prometheus": (
        "Prometheus, on a manager: it finds every task of each service as"
        " tasks.NAME, however far a service is scaled, and scrapes it inside the"
        " network. Not published: reach it through the manager (docker exec, or a"
        " tunnel), or send its samples on with remote_write."
    ),
}


def app_service(service: topology.Service, settings: Settings) -> dict:
    environment = compose_file.app_environment(service)
    if service is topology.DASHBOARD:
        environment |= {
            "ADMIN_USER": interpolated("ADMIN_USER", settings.admin_user),
            "ADMIN_PASSWORD": "${ADMIN_PASSWORD:?the dashboard needs ADMIN_PASSWORD}",
        }
    spec: dict = {
        "image": interpolated("JOBQUEUE_IMAGE", compose_file.IMAGE),
        "init": True,
        "networks": [NETWORK],
        "command": service.name,
    }
    if service is not topology.DASHBOARD:
        # What X-Served-By answers and job records name: the task and its node.
        spec["hostname"] = f"{service.name}-{{{{.Task.Slot}}}}.{{{{.Node.Hostname}}}}"
    spec["environment"] = environment
    if service.health and service.port:
        spec["healthcheck"] = {
            "test": compose_file.http_check(service.port, service.health.path),
            **compose_file.CONTAINER_CHECK,
        }
    grace = topology.stop_seconds(service, settings)
    if service is topology.WORKER:
        spec["stop_grace_period"] = interpolated("WORKER_STOP_GRACE_PERIOD", f"{grace}s")
    else:
        spec["stop_grace_period"] = f"{grace}s"
    deploy: dict = {}
    if service is topology.API:
        deploy["replicas"] = interpolated("API_REPLICAS", str(topology.replicas(service, settings)))
        deploy["update_config"] = {
            "order": "start-first",
            "parallelism": 1,
            "failure_action": "rollback",
        }
    elif service is topology.WORKER:
        deploy["replicas"] = interpolated("WORKERS", str(settings.workers))
    deploy["endpoint_mode"] = "dnsrr"
    if service.routers:
        labels = compose_file.traefik_labels(service, settings)
        deploy["labels"] = {
            key: value for key, value in labels.items() if ".routers.api-direct." not in key
        }
    spec["deploy"] = deploy
    return spec


def redis_service() -> dict:
    return {
        "image": compose_file.REDIS_IMAGE,
        "command": compose_file.redis_command(),
        "volumes": ["redis-data:/data"],
        "networks": [NETWORK],
        "healthcheck": compose_file.REDIS_PING_CHECK,
        "deploy": {
            "endpoint_mode": "dnsrr",
            "placement": {"constraints": ["node.labels.jobqueue.redis == true"]},
        },
    }


def traefik_service(settings: Settings) -> dict:
    static = topology.traefik_static(
        {
            topology.WEB: f":{topology.TRAEFIK_WEB_PORT}",
            "ping": f"127.0.0.1:{topology.TRAEFIK_PING_PORT}",
            "metrics": f":{topology.TRAEFIK_METRICS_PORT}",
        },
        providers={
            "swarm": {"exposedByDefault": False, "refreshSeconds": TRAEFIK_REFRESH_SECONDS},
            "file": {"directory": "/etc/traefik/dynamic"},
        },
    )
    return {
        "image": compose_file.TRAEFIK_IMAGE,
        "command": ["--providers.swarm=true", *compose_file.traefik_flags(static)],
        "environment": {
            "ADMIN_HTPASSWD": "${ADMIN_HTPASSWD:?Traefik needs ADMIN_HTPASSWD}",
            "SUBMIT_RATE": interpolated("SUBMIT_RATE", str(settings.submit_rate)),
            "SUBMIT_BURST": interpolated("SUBMIT_BURST", str(settings.submit_burst)),
            "GOMAXPROCS": interpolated("LB_PROCS", str(settings.lb_procs)),
            "GOGC": interpolated("LB_GOGC", str(settings.lb_gogc)),
        },
        "ports": [
            {
                "target": topology.TRAEFIK_WEB_PORT,
                "published": interpolated("LB_PORT", str(settings.lb_port)),
                "mode": "host",
            }
        ],
        "volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro"],
        "configs": [{"source": "middlewares", "target": "/etc/traefik/dynamic/middlewares.yml"}],
        "networks": [NETWORK],
        "healthcheck": compose_file.TRAEFIK_CHECK,
        "deploy": {
            "endpoint_mode": "dnsrr",
            "placement": {"constraints": ["node.role == manager"]},
        },
    }


def prometheus_service() -> dict:
    spec = compose_file.prometheus_service()
    del spec["ports"], spec["restart"], spec["security_opt"]
    spec["volumes"] = ["prometheus-data:/prometheus"]
    spec["configs"] = [
        {"source": "prometheus", "target": "/etc/prometheus/prometheus.yml"},
        {"source": "alerts", "target": "/etc/prometheus/alerts.yml"},
    ]
    spec["networks"] = [NETWORK]
    spec["deploy"] = {
        "endpoint_mode": "dnsrr",
        "placement": {"constraints": ["node.role == manager"]},
    }
    return spec


def stack(settings: Settings) -> dict:
    return {
        "version": "3.8",
        "services": {
            "redis": redis_service(),
            **{app.name: app_service(app, settings) for app in topology.APP_SERVICES},
            "traefik": traefik_service(settings),
            "prometheus": prometheus_service(),
        },
        "configs": {
            "middlewares": {"file": "../../traefik/dynamic/middlewares.yml"},
            "prometheus": {"file": f"../../{PROMETHEUS_CONFIG}"},
            "alerts": {"file": "../../prometheus/alerts.yml"},
        },
        "networks": {NETWORK: {"driver": "overlay"}},
        "volumes": {"redis-data": {}, "prometheus-data": {}},
    }
