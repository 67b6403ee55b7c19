"""What each feature of the load balancer costs: Traefik as the stack runs it, and without one.

Each variant is a Traefik of its own, started from the stack's configuration
(``services.stack.traefik.write_config``) changed in one place, in front of
the stack's two API instances. A feature is priced by a pair of wrk runs,
one right after the other: the stack's configuration, then the variant. The
CPU counted is the variant Traefik's and the API instances', per request:
what the hop costs, since a feature (keep-alive to the instances, above all)
may move work onto the instances.

The rate limit applies to submissions alone (POST), so it is priced on
``POST /jobs``; every other feature on ``GET /``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.stack.supervisor import http_ok
from services.stack.traefik import htpasswd, traefik_env, write_config
from tests.support import free_ports, wait_for

from .cpu import CpuMeter
from .stack import BenchStack
from .wrk import Load, run_wrk

#: Configuration: the static file and the dynamic files by name, as YAML.
Config = dict[str, Any]
#: The POST that the rate limit is priced on: a job no worker needs to run for long.
SUBMISSION = {"actor": "add", "args": [1, 2]}


@dataclass(frozen=True)
class Feature:
    """One feature, and how to take it out of the stack's configuration (or put it in)."""

    name: str
    change: Callable[[Config], None] | None = None
    path: str = "/"
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    #: True when the stack runs without it and the variant adds it.
    added: bool = False


def _routers(config: Config) -> dict:
    return config["routes.yml"]["http"]["routers"]


def _no_retry(config: Config) -> None:
    for router in ("api", "api-idempotent"):
        middlewares = _routers(config)[router].get("middlewares", [])
        _routers(config)[router]["middlewares"] = [m for m in middlewares if "retry" not in m]


def _no_rate_limit(config: Config) -> None:
    router = _routers(config)["api"]
    router["middlewares"] = [m for m in router["middlewares"] if "rate-limit" not in m]


def _no_metrics(config: Config) -> None:
    del config["static"]["metrics"]


def _no_health_check(config: Config) -> None:
    del config["routes.yml"]["http"]["services"]["api"]["loadBalancer"]["healthCheck"]


def _no_keep_alive(config: Config) -> None:
    config["static"]["serversTransport"]["maxIdleConnsPerHost"] = -1


def _access_log(config: Config) -> None:
    config["static"]["accessLog"] = {"filePath": os.devnull, "format": "json"}


#: The features priced, each as the variant without it (or, ``added``, with it).
FEATURES = (
    Feature("retry", _no_retry),
    Feature("rate limit (POST /jobs)", _no_rate_limit, path="/jobs"),
    Feature("metrics", _no_metrics),
    Feature("health checks", _no_health_check),
    Feature("keep-alive to the instances", _no_keep_alive),
    Feature("access log (JSON, to a file)", _access_log, added=True),
    # The stack runs it on LB_PROCS cores; Go's own default is every core there is.
    Feature("GOMAXPROCS=LB_PROCS", env={"GOMAXPROCS": str(os.cpu_count())}),
    # The stack collects at LB_GOGC; Go's own default is 100.
    Feature("GOGC=LB_GOGC", env={"GOGC": "100"}),
)


def stack_config(bench: BenchStack, run_dir: Path) -> Config:
    """The stack's Traefik configuration, as YAML, rendered afresh for a variant's use."""
    static = write_config(
        bench.settings, run_dir, lb_port=0, instance_ports=bench.stack.instance_ports
    )
    config = {"static": yaml.safe_load(static.read_text())}
    for path in (run_dir / "dynamic").glob("*.yml"):
        config[path.name] = yaml.safe_load(path.read_text())
    # One entry point for the load; the instances' own ones are the stack's.
    entry_points = config["static"]["entryPoints"]
    for name in list(entry_points):
        if name.startswith("api-"):
            del entry_points[name]
    for name in list(_routers(config)):
        if name.startswith("api-") and name != "api-idempotent":
            del _routers(config)[name]
    return config


@contextlib.contextmanager
def running(bench: BenchStack, config: Config, run_dir: Path, env: dict[str, str]) -> Iterator:
    """A Traefik serving ``config`` on free ports; yields its URL and its session id."""
    web, ping, metrics = free_ports(3)
    static = config["static"]
    static["entryPoints"]["web"]["address"] = f"127.0.0.1:{web}"
    static["entryPoints"]["ping"]["address"] = f"127.0.0.1:{ping}"
    static["entryPoints"]["metrics"]["address"] = f"127.0.0.1:{metrics}"
    dynamic_dir = run_dir / "dynamic"
    dynamic_dir.mkdir(parents=True, exist_ok=True)
    static["providers"]["file"]["directory"] = str(dynamic_dir)
    for name, document in config.items():
        if name != "static":
            (dynamic_dir / name).write_text(yaml.safe_dump(document))
    static_file = run_dir / "traefik.yml"
    static_file.write_text(yaml.safe_dump(static))
    settings = bench.settings
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "traefik"), f"--configFile={static_file}"],
        env={
            **os.environ,
            "ADMIN_HTPASSWD": htpasswd(settings.admin_user, "bench"),
            **traefik_env(settings),
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{web}"
        wait_for(lambda: http_ok(f"{url}/healthz"), timeout=30, what="a Traefik variant")
        yield url, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _load(url: str, feature: Feature, seconds: float) -> Load:
    posted = SUBMISSION if feature.path == "/jobs" else None
    return run_wrk(url + feature.path, seconds=seconds, post_json=posted)


def hop_cost(
    bench: BenchStack, config: Config, feature: Feature, run_dir: Path, *, seconds: float, env
) -> dict:
    """CPU per request of a Traefik serving ``config``, and of the instances behind it."""
    with running(bench, config, run_dir, env) as (url, session):
        _load(url, feature, 1)  # warm up connections
        meter = CpuMeter({"traefik": session, **bench.sessions("api.1", "api.2")})
        load = _load(url, feature, seconds)
        spent = meter.spent()
    return {
        "requests_per_s": load.per_second,
        "traefik_cpu_us_per_request": spent["traefik"] / load.requests * 1e6,
        "hop_cpu_us_per_request": sum(spent.values()) / load.requests * 1e6,
    }


def measure(bench: BenchStack, run_dir: Path, *, seconds: float) -> dict:
    """Each feature's pair, the stack's configuration and the variant, one right after the other.

    Which of the two runs first alternates from one feature to the next.
    """
    results = {}
    for number, feature in enumerate(FEATURES):
        variant = stack_config(bench, run_dir / f"{number}-variant")
        if feature.change is not None:
            feature.change(variant)
        runs = {
            "stack": (stack_config(bench, run_dir / f"{number}-stack"), {}),
            "variant": (variant, feature.env),
        }
        costs = {
            name: hop_cost(
                bench, config, feature, run_dir / f"{number}-{name}", seconds=seconds, env=env
            )
            for name, (config, env) in sorted(runs.items(), reverse=number % 2 == 1)
        }
        with_it, without = (
            (costs["variant"], costs["stack"])
            if feature.added
            else (costs["stack"], costs["variant"])
        )
        results[feature.name] = {"with": with_it, "without": without}
    return results
