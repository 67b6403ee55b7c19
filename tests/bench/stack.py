"""The stack under measurement: ``make up``'s processes on free ports, plus the baseline worker.

The stack starts without workers, so that jobs can be queued before one
starts (a drain measures a full queue); :meth:`BenchStack.start_worker`
starts the service's worker exactly as ``make up`` does, and
:meth:`BenchStack.start_raw_worker` raw dramatiq's, with the same processes
and threads, on the same Redis.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import redis

from services import commands
from services.settings import Settings
from services.stack import plan
from services.stack.stack import Stack
from services.stack.supervisor import ProcessSpec
from tests.support import free_port_range, free_ports

from .cpu import CpuMeter
from .raw_dramatiq import declare

#: Supervisor names of the worker processes this module starts.
WORKER = "worker.1"
RAW_WORKER = "raw-dramatiq"
FLOOR = "floor"


def bench_settings(settings: Settings) -> Settings:
    """``settings`` (make up's, from the environment) on free ports, with a Redis of its own."""
    lb, api_1, api_2, dashboard, ping, redis_port, traefik_metrics = free_ports(7)
    return dataclasses.replace(
        settings,
        redis_url="",
        redis_port=redis_port,
        lb_host="127.0.0.1",
        lb_port=lb,
        bind_host="127.0.0.1",
        api_ports=(api_1, api_2),
        api_metrics_port=free_port_range(2),
        worker_metrics_port=free_port_range(2),
        dashboard_port=dashboard,
        traefik_ping_port=ping,
        traefik_metrics_port=traefik_metrics,
        workers=0,
        log_level="WARNING",
        # The load comes from one address, standing for many clients.
        submit_rate=1_000_000,
        submit_burst=1_000_000,
    )


class BenchStack:
    """A started local stack, its Redis client, and the CPU accounts of its processes."""

    def __init__(self, settings: Settings, run_dir: Path):
        self.settings = settings
        run_dir.mkdir(parents=True, exist_ok=True)
        self.stack = Stack(settings, run_dir, log=(run_dir / "stack.log").open("a", buffering=1))
        self.stack.start()
        self.url = f"http://127.0.0.1:{self.stack.lb_port}"
        # gunicorn itself, behind the Traefik entry point that serves API_PORTS.
        self.direct_url = f"http://127.0.0.1:{self.stack.instance_ports[0]}"
        self.redis = redis.Redis.from_url(settings.effective_redis_url)
        self.raw_broker, self.raw_actors = declare(settings.effective_redis_url)

    def stop(self) -> None:
        self.raw_broker.close()
        self.redis.close()
        self.stack.stop()

    @property
    def _processes(self):
        return self.stack.supervisor.processes

    def sessions(self, *names: str) -> dict[str, int]:
        """Session ids of the named processes (all but the baselines by default)."""
        names = names or tuple(name for name in self._processes if name not in (RAW_WORKER, FLOOR))
        return {name: self._processes[name].pid for name in names}

    def cpu_meter(self, *names: str) -> CpuMeter:
        return CpuMeter(self.sessions(*names))

    def start_worker(self) -> None:
        (spec,) = plan.workers(dataclasses.replace(self.settings, workers=1))
        assert spec.name == WORKER
        self.stack.supervisor.start(spec)

    def start_floor(self) -> str:
        """gunicorn as the API instances run it, serving a 12-byte ASGI app; returns its URL."""
        (port,) = free_ports(1)
        self.stack.supervisor.start(
            ProcessSpec(
                name=FLOOR,
                argv=commands.gunicorn(
                    "tests.bench.hello_asgi:app",
                    host="127.0.0.1",
                    port=port,
                    processes=self.settings.api_processes,
                ),
                ready_url=f"http://127.0.0.1:{port}/",
            )
        )
        return f"http://127.0.0.1:{port}/"

    def start_raw_worker(self) -> None:
        self.stack.supervisor.start(
            ProcessSpec(
                name=RAW_WORKER,
                argv=[
                    sys.executable,
                    "-m",
                    "dramatiq",
                    "tests.bench.raw_worker",
                    f"--processes={self.settings.worker_processes}",
                    f"--threads={self.settings.worker_threads}",
                ],
                stop_timeout=30,
            )
        )
