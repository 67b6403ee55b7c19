"""What each feature of the load balancer costs: Traefik as the stack runs it, and without one.

A feature is priced side by side: two Traefiks of their own, one started
from the stack's configuration (``services.stack.traefik.write_config``),
the other from it changed in one place, each in front of one of the stack's
two API instances, under the same wrk load at once. Whatever else the machine
runs then weighs on both alike; run one after the other, each would meet
another moment of a shared machine, which moved one pair by more than most
features cost. The two rounds of a feature swap the instances, and each
figure is their mean. The CPU counted is a Traefik's and its instance's, per
request: what the hop costs, since a feature (keep-alive to the instances,
above all) may move work onto the instances.

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
import threading
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
#: Rounds of each feature's side-by-side runs, the instances swapped in each.
ROUNDS = 2
#: The stack's instances, as the bench's supervisor names them.
INSTANCES = ("api.1", "api.2")


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


def _no_labels(family: str) -> Callable[[Config], None]:
    def change(config: Config) -> None:
        config["static"]["metrics"]["prometheus"][f"add{family}Labels"] = False

    return change


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
    # Each of the two label sets: traefik_entrypoint_* and traefik_service_*.
    Feature("metrics by entry point", _no_labels("EntryPoints")),
    Feature("metrics by service", _no_labels("Services")),
    Feature("health checks", _no_health_check),
    Feature("keep-alive to the instances", _no_keep_alive),
    Feature("access log (JSON, to a file)", _access_log, added=True),
    # The stack runs it on LB_PROCS cores; Go's own default is every core there is.
    Feature("GOMAXPROCS=LB_PROCS", env={"GOMAXPROCS": str(os.cpu_count())}),
    # The stack collects at LB_GOGC; Go's own default is 100.
    Feature("GOGC=LB_GOGC", env={"GOGC": "100"}),
)


def stack_config(bench: BenchStack, run_dir: Path, instance: int) -> Config:
    """The stack's Traefik configuration, as YAML, rendered afresh for a variant's use,
    its API service on the stack's instance number ``instance`` (from 0) alone."""
    ports = bench.stack.instance_ports
    static = write_config(bench.settings, run_dir, lb_port=0, instance_ports=ports)
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
    api = config["routes.yml"]["http"]["services"]["api"]["loadBalancer"]
    api["servers"] = [{"url": f"http://127.0.0.1:{ports[instance]}"}]
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
    return run_wrk(url + feature.path, seconds=seconds, connections=50, threads=1, post_json=posted)


def side_by_side(
    bench: BenchStack, feature: Feature, run_dir: Path, *, seconds: float, stack_instance: int
) -> dict[str, dict]:
    """One round: the stack's configuration on instance number ``stack_instance``, the
    variant on the other, both under load at once. CPU per request of each Traefik,
    and of each Traefik with its instance."""
    instances = {"stack": stack_instance, "variant": 1 - stack_instance}
    configs = {
        name: stack_config(bench, run_dir / f"{name}-config", number)
        for name, number in instances.items()
    }
    if feature.change is not None:
        feature.change(configs["variant"])
    envs = {"stack": {}, "variant": feature.env}
    with contextlib.ExitStack() as started:
        urls, sessions = {}, {}
        for name, config in configs.items():
            urls[name], sessions[name] = started.enter_context(
                running(bench, config, run_dir / name, envs[name])
            )
        for url in urls.values():
            _load(url, feature, 1)  # warm up connections
        names = {name: INSTANCES[number] for name, number in instances.items()}
        meter = CpuMeter({**sessions, **bench.sessions(*names.values())})
        loads: dict[str, Load] = {}
        runs = [
            threading.Thread(
                target=lambda name=name: loads.__setitem__(
                    name, _load(urls[name], feature, seconds)
                )
            )
            for name in urls
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        spent = meter.spent()
    return {
        name: {
            "requests_per_s": load.per_second,
            "traefik_cpu_us_per_request": spent[name] / load.requests * 1e6,
            "hop_cpu_us_per_request": (spent[name] + spent[names[name]]) / load.requests * 1e6,
        }
        for name, load in loads.items()
    }


def _mean(rounds: list[dict]) -> dict:
    return {key: sum(figures[key] for figures in rounds) / len(rounds) for key in rounds[0]}


def measure(bench: BenchStack, run_dir: Path, *, seconds: float) -> dict:
    """Each feature's rounds, the stack's configuration and the variant side by side."""
    results = {}
    for number, feature in enumerate(FEATURES):
        rounds = [
            side_by_side(
                bench,
                feature,
                run_dir / f"{number}-{round_number}",
                seconds=seconds,
                stack_instance=round_number % 2,
            )
            for round_number in range(ROUNDS)
        ]
        stack = _mean([costs["stack"] for costs in rounds])
        variant = _mean([costs["variant"] for costs in rounds])
        with_it, without = (variant, stack) if feature.added else (stack, variant)
        results[feature.name] = {"with": with_it, "without": without}
    return results
