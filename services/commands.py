"""The command lines of the services: what the local stack and the containers run.

One builder per service, from the settings, so that ``make up`` without Docker
(:mod:`services.stack.plan`) and a container of ``compose.yml``
(:mod:`services.entrypoint`) start the same programs with the same options.
"""

from __future__ import annotations

import sys

from services.metrics import multiprocess
from services.settings import Settings

#: The API's gunicorn worker: uvicorn's event loop (uvloop) and HTTP parser (httptools).
ASGI_WORKER = "services.api.server.Worker"


def gunicorn(
    app: str,
    *,
    host: str,
    port: int,
    processes: int,
    threads: int | None = None,
    config: str | None = None,
) -> list[str]:
    """gunicorn serving ``app``: a WSGI app on ``threads`` threads, else an ASGI app."""
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        f"--bind={host}:{port}",
        *(["--worker-class=gthread", f"--threads={threads}"] if threads else []),
        *([] if threads else [f"--worker-class={ASGI_WORKER}"]),
        f"--workers={processes}",
        # Several instances on one host would share one control socket.
        "--no-control-socket",
        "--keep-alive=5",
        "--graceful-timeout=10",
    ]
    return argv + ([f"--config=python:{config}"] if config else [])


def api(settings: Settings, port: int, *, listen_port: int | None = None) -> list[str]:
    """The API instance of ``port``, its processes' metrics in one directory.

    It listens on ``port`` itself, or on ``listen_port`` when a proxy serves
    ``port`` in front of it (the local stack's Traefik). Its master serves the
    metrics on API_METRICS_PORT.
    """
    return multiprocess.command(
        f"api-{port}",
        gunicorn(
            "services.api.asgi:app",
            host=settings.bind_host,
            port=listen_port or port,
            processes=settings.api_processes,
            config="services.metrics.gunicorn_hooks",
        ),
    )


def dashboard(settings: Settings) -> list[str]:
    return gunicorn(
        "services.dashboard.wsgi:app",
        host=settings.bind_host,
        port=settings.dashboard_port,
        processes=1,
        threads=4,
    )


def worker(settings: Settings) -> list[str]:
    """One dramatiq worker (its processes and threads as the settings say).

    Its processes' metrics share one directory, served on WORKER_METRICS_PORT
    by a process of their own (dramatiq's fork function).
    """
    return multiprocess.command(
        f"worker-{settings.worker_metrics_port}",
        [
            sys.executable,
            "-m",
            "dramatiq",
            "services.worker",
            f"--processes={settings.worker_processes}",
            f"--threads={settings.worker_threads}",
            f"--worker-shutdown-timeout={settings.worker_shutdown_timeout_ms}",
            "--fork-function=services.metrics.worker:serve",
        ],
    )
