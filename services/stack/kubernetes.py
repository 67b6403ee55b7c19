"""The Kubernetes manifests (a kustomize base and overlays), from :mod:`.topology`.

The base runs the services of the topology as Deployments behind a Traefik
that the cluster runs (its Kubernetes CRD provider): an IngressRoute with the
topology's routers, and the shared middlewares of ``traefik/dynamic/`` as
Middleware objects. The API scales on CPU (an HPA); the workers on the work
the service reports, through KEDA: the messages waiting plus the jobs running,
as the service's own metrics count them in Prometheus. A list-length scaler
reading Redis would miss the jobs in flight, which sit in acknowledgement sets.
Redis is a StatefulSet of one; an overlay uses a Redis of your own instead.

Secrets are the cluster's, made by the operator (see the README): the admin's
credentials (``jobqueue-admin``: ADMIN_USER, ADMIN_PASSWORD and ``users``, the
``user:bcrypt-hash`` line Traefik's basic auth reads) and the API keys
(``jobqueue-api-keys``: API_KEYS, optional).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from services.settings import Settings

from . import compose_file, topology
from .redis_server import data_options

NAME = "jobqueue"
#: Where Traefik and Prometheus run, for the network policies (overlays change them).
TRAEFIK_NAMESPACE = "traefik"
PROMETHEUS_NAMESPACE = "monitoring"
#: The cluster's Prometheus, which KEDA asks for the workers' load.
PROMETHEUS_URL = f"http://prometheus.{PROMETHEUS_NAMESPACE}.svc:9090"
ADMIN_SECRET = "jobqueue-admin"
API_KEYS_SECRET = "jobqueue-api-keys"
REDIS_SECRET = "jobqueue-redis"
SETTINGS_MAP = "jobqueue-settings"
#: The app image: kustomize's ``images`` in an overlay names where it is pushed.
IMAGE = "jobqueue"
#: The user the image runs as (the Dockerfile's), and the official Redis image's.
APP_USER = 10001
REDIS_USER = 999
#: Most workers KEDA may run.
MAX_WORKERS = 50
MIDDLEWARES = Path(__file__).resolve().parents[2] / "traefik" / "dynamic" / "middlewares.yml"


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": component}


def metadata(name: str, component: str, **extra: object) -> dict:
    return {"name": name, "labels": labels(component), **extra}


def hardened_container() -> dict:
    """A container that cannot gain privileges or write its image."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_security(user: int) -> dict:
    return {
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "fsGroup": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, port: str, **timing: int) -> dict:
    return {"httpGet": {"path": path, "port": port}, **timing}


def secret_env(name: str, secret: str, *, optional: bool = False) -> dict:
    return {
        "name": name,
        "valueFrom": {"secretKeyRef": {"name": secret, "key": name, "optional": optional}},
    }


def app_deployment(service: topology.Service, settings: Settings) -> dict:
    """A Deployment of ``service``: the image, its command, its own settings, its probes."""
    env = [
        # What X-Served-By answers and job records name: the pod.
        {"name": "INSTANCE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        *({"name": name, "value": value} for name, value in topology.own_settings(service).items()),
    ]
    if service is topology.API:
        env.append(secret_env("API_KEYS", API_KEYS_SECRET, optional=True))
    elif service is topology.DASHBOARD:
        env += [secret_env(name, ADMIN_SECRET) for name in service.secrets]
    ports = [{"name": "metrics", "containerPort": service.metrics_port}]
    if service.port and service.port != service.metrics_port:
        ports.insert(0, {"name": "http", "containerPort": service.port})
    elif service.port:
        ports = [{"name": "http", "containerPort": service.port}]
    container: dict = {
        "name": service.name,
        "image": IMAGE,
        "args": [service.name],
        "envFrom": [{"configMapRef": {"name": SETTINGS_MAP}}],
        "env": env,
        "ports": ports,
    }
    if service.health:
        container["startupProbe"] = http_probe(
            service.health.path, "http", periodSeconds=2, failureThreshold=60
        )
        container["livenessProbe"] = http_probe(
            service.health.path, "http", periodSeconds=10, timeoutSeconds=3
        )
        container["readinessProbe"] = http_probe(
            service.ready_path or service.health.path, "http", periodSeconds=5, timeoutSeconds=3
        )
    if service is topology.API:
        # Traefik stops sending requests once the endpoint goes; until it has
        # seen that, the instance still answers.
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}
    container["resources"] = {
        "requests": {
            "cpu": "250m" if service is not topology.DASHBOARD else "50m",
            "memory": "256Mi",
        },
        "limits": {"memory": "1Gi"},
    }
    container["securityContext"] = hardened_container()
    container["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    template = {
        "metadata": {
            "labels": labels(service.name),
            # For a Prometheus that discovers pods by annotation; a ServiceMonitor
            # would do the same with the Prometheus operator.
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(service.metrics_port),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": {
            "terminationGracePeriodSeconds": topology.stop_seconds(service, settings),
            "securityContext": pod_security(APP_USER),
            "containers": [container],
            # The only place written: prometheus-client's multiprocess files, gunicorn's.
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }
    spec: dict = {
        "selector": {"matchLabels": labels(service.name)},
        "template": template,
    }
    if service is not topology.WORKER:
        spec = {"replicas": topology.replicas(service, settings), **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(service.name, service.name),
        "spec": spec,
    }


def cluster_service(name: str, component: str, port: int, *, headless: bool = False) -> dict:
    spec: dict = {
        "selector": labels(component),
        "ports": [{"name": "http" if not headless else "redis", "port": port, "targetPort": port}],
    }
    if headless:
        spec = {"clusterIP": "None", **spec}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, component),
        "spec": spec,
    }


def disruption_budget(component: str, **budget: int) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(component, component),
        "spec": {**budget, "selector": {"matchLabels": labels(component)}},
    }


def api_autoscaler() -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata("api", "api"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


#: The work the workers have, as the service reports it: messages waiting in
#: every lane, and jobs running. Delayed messages are left out until they come
#: due (a worker must run for that: the minimum is one).
WORK_QUERY = (
    "(sum(jobqueue_queue_messages) or vector(0)) + (sum(jobqueue_jobs_in_progress) or vector(0))"
)


def worker_scaler(settings: Settings) -> dict:
    """KEDA runs as many workers as the work needs, each taking as many jobs as it has threads."""
    per_worker = settings.worker_threads * settings.worker_processes
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata("worker", "worker"),
        "spec": {
            "scaleTargetRef": {"name": "worker"},
            "minReplicaCount": 1,
            "maxReplicaCount": MAX_WORKERS,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        # One worker at a time, each given its grace period to finish.
                        "scaleDown": {
                            "stabilizationWindowSeconds": 300,
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                        }
                    }
                }
            },
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": PROMETHEUS_URL,
                        "query": WORK_QUERY,
                        "threshold": str(per_worker),
                    },
                }
            ],
        },
    }


def redis_statefulset(settings: Settings) -> dict:
    container = {
        "name": "redis",
        "image": compose_file.REDIS_IMAGE,
        "args": ["redis-server", *data_options(settings.redis_maxmemory)],
        "ports": [{"name": "redis", "containerPort": topology.REDIS_PORT}],
        "readinessProbe": {
            "exec": {"command": ["redis-cli", "ping"]},
            "periodSeconds": 5,
        },
        "livenessProbe": {
            "exec": {"command": ["redis-cli", "ping"]},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
        },
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
        "securityContext": hardened_container(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata("redis", "redis"),
        "spec": {
            "serviceName": "redis",
            "replicas": 1,
            "selector": {"matchLabels": labels("redis")},
            "template": {
                "metadata": {"labels": labels("redis")},
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security(REDIS_USER),
                    "containers": [container],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ],
        },
    }


def settings_map(settings: Settings) -> dict:
    """The settings every app container reads, at their defaults: change them here."""
    values = settings.to_env()
    # Secrets come from Secrets; each container is told its own place itself.
    kept = {name for app in topology.APP_SERVICES for name in app.secrets}
    kept |= {name for app in topology.APP_SERVICES for name in topology.own_settings(app)}
    data = {name: values[name] for name in topology.passed_settings() if name not in kept}
    data["REDIS_URL"] = f"redis://redis:{topology.REDIS_PORT}/0"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(SETTINGS_MAP, "settings"),
        "data": data,
    }


def middlewares(settings: Settings) -> list[dict]:
    """``traefik/dynamic/middlewares.yml`` as Middleware objects: the same middlewares."""
    shared = yaml.safe_load(MIDDLEWARES.read_text())["http"]["middlewares"]
    objects = []
    for name, spec in shared.items():
        if "rateLimit" in spec:
            spec = {"rateLimit": {"average": settings.submit_rate, "burst": settings.submit_burst}}
        elif "basicAuth" in spec:
            spec = {"basicAuth": {"realm": spec["basicAuth"]["realm"], "secret": ADMIN_SECRET}}
        objects.append(
            {
                "apiVersion": "traefik.io/v1alpha1",
                "kind": "Middleware",
                "metadata": metadata(name, "traefik"),
                "spec": spec,
            }
        )
    return objects


def ingress_route() -> dict:
    """The topology's routers, on Traefik's ``web`` entry point."""
    routes = []
    for router in topology.ROUTERS:
        target = topology.service(router.service)
        route: dict = {"kind": "Rule", "match": router.rule}
        if router.priority:
            route["priority"] = router.priority
        route["services"] = [{"name": target.name, "port": target.port}]
        route["middlewares"] = [{"name": m.removesuffix("@file")} for m in router.middlewares]
        routes.append(route)
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": metadata(NAME, "traefik"),
        "spec": {"entryPoints": [topology.WEB], "routes": routes},
    }


def network_policy(component: str, rules: list[dict]) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(component, component),
        "spec": {
            "podSelector": {"matchLabels": labels(component)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def from_namespace(namespace: str, port: int, pods: dict[str, str] | None = None) -> dict:
    peer: dict = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
    if pods:
        peer["podSelector"] = {"matchLabels": pods}
    return {"from": [peer], "ports": [{"protocol": "TCP", "port": port}]}


def network_policies() -> list[dict]:
    """Only Traefik reaches the API and the dashboard, only Prometheus their metrics, and
    only the stack's own pods Redis."""
    traefik = {"app.kubernetes.io/name": "traefik"}
    policies = []
    for service in topology.APP_SERVICES:
        rules = []
        if service.port:
            rules.append(from_namespace(TRAEFIK_NAMESPACE, service.port, traefik))
        if service.metrics_port != service.port:
            rules.append(from_namespace(PROMETHEUS_NAMESPACE, service.metrics_port))
        else:
            rules[-1]["from"].append(
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": PROMETHEUS_NAMESPACE}
                    }
                }
            )
        policies.append(network_policy(service.name, rules))
    redis_rule = {
        "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": NAME}}}],
        "ports": [{"protocol": "TCP", "port": topology.REDIS_PORT}],
    }
    policies.append(network_policy("redis", [redis_rule]))
    return policies


def base(settings: Settings) -> dict[str, list[dict]]:
    """The base's files, by name: the objects each holds."""
    return {
        "settings.yaml": [settings_map(settings)],
        "redis.yaml": [
            redis_statefulset(settings),
            cluster_service("redis", "redis", topology.REDIS_PORT, headless=True),
        ],
        "api.yaml": [
            app_deployment(topology.API, settings),
            cluster_service("api", "api", topology.API_PORT),
            api_autoscaler(),
            disruption_budget("api", minAvailable=1),
        ],
        "worker.yaml": [
            app_deployment(topology.WORKER, settings),
            worker_scaler(settings),
            disruption_budget("worker", maxUnavailable=1),
        ],
        "dashboard.yaml": [
            app_deployment(topology.DASHBOARD, settings),
            cluster_service("dashboard", "dashboard", topology.DASHBOARD_PORT),
        ],
        "traefik.yaml": [ingress_route(), *middlewares(settings)],
        "network-policies.yaml": network_policies(),
    }


def kustomization(resources: list[str], **more: object) -> dict:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        **more,
    }


def overlays() -> dict[str, dict[str, object]]:
    """Each overlay's files, by overlay and file name.

    ``bundled-redis`` runs everything, Redis included, in the namespace
    ``jobqueue``; ``external-redis`` leaves Redis out and reads REDIS_URL
    from the Secret ``jobqueue-redis``. Both name where the image is pushed.
    """
    common = {
        "namespace": NAME,
        "images": [{"name": IMAGE, "newName": "registry.example.com/jobqueue", "newTag": "latest"}],
    }
    redis_url = [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/env/-",
            "value": secret_env("REDIS_URL", REDIS_SECRET),
        }
    ]
    no_redis = [
        {
            "patch": yaml.safe_dump(
                {
                    "$patch": "delete",
                    "apiVersion": api_version,
                    "kind": kind,
                    "metadata": {"name": "redis"},
                },
                sort_keys=False,
            )
        }
        for api_version, kind in (
            ("apps/v1", "StatefulSet"),
            ("v1", "Service"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
        )
    ]
    return {
        "bundled-redis": {"kustomization.yaml": kustomization(["../../base"], **common)},
        "external-redis": {
            "kustomization.yaml": kustomization(
                ["../../base"],
                **common,
                patches=[
                    *no_redis,
                    *(
                        {
                            "target": {"kind": "Deployment", "name": service.name},
                            "patch": yaml.safe_dump(redis_url, sort_keys=False),
                        }
                        for service in topology.APP_SERVICES
                    ),
                ],
            ),
        },
    }
