"""``make bench``: throughput of the stack on this machine, reported as ratios of one run.

Starts a private stack on free ports (as the end-to-end tests do) and measures:

* requests per second of ``GET /`` through Traefik against one instance directly;
* jobs per second submitted one request each against ``POST /jobs/batch``;
* jobs per second processed by one worker process against two.

Absolute numbers depend on the machine and whatever else it runs; the ratios
measured side by side in one run are what to compare.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

from tests.e2e.conftest import stack_settings, start_stack
from tests.support import wait_for

CLIENTS = 16
REQUESTS = 2000
JOBS = 1000


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def hammer(url: str, total: int = REQUESTS, clients: int = CLIENTS) -> float:
    """Requests per second of GET ``url`` from ``clients`` keep-alive clients."""
    local = threading.local()

    def one(_):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        session.get(url, timeout=30).raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(total)))
    return rate(total, time.perf_counter() - start)


def submit_one_by_one(base: str, count: int) -> tuple[float, list[str]]:
    local = threading.local()

    def one(i):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        response = session.post(f"{base}/jobs", json={"actor": "add", "args": [i, 1]}, timeout=30)
        response.raise_for_status()
        return response.json()["id"]

    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        ids = list(pool.map(one, range(count)))
    return rate(count, time.perf_counter() - start), ids


def submit_batches(base: str, count: int, size: int = 250) -> tuple[float, list[str]]:
    ids: list[str] = []
    start = time.perf_counter()
    with requests.Session() as session:
        for offset in range(0, count, size):
            jobs = [{"actor": "add", "args": [i, 1]} for i in range(offset, offset + size)]
            response = session.post(f"{base}/jobs/batch", json={"jobs": jobs}, timeout=60)
            response.raise_for_status()
            ids += [job["id"] for job in response.json()["jobs"]]
    return rate(count, time.perf_counter() - start), ids


def drain_rate(base: str, ids: list[str]) -> float:
    """Jobs per second from the first job's enqueue time to the last one's finish."""
    with requests.Session() as session:

        def all_done():
            last = session.get(f"{base}/jobs/{ids[-1]}?wait=10", timeout=30).json()
            return last["state"] == "succeeded" and all(
                session.get(f"{base}/jobs/{i}", timeout=30).json()["state"] == "succeeded"
                for i in ids[:: max(1, len(ids) // 50)]
            )

        wait_for(all_done, timeout=600, interval=0.5, what="the jobs to finish")
        records = [session.get(f"{base}/jobs/{i}", timeout=30).json() for i in ids]
    started = min(datetime.fromisoformat(r["started_at"]) for r in records)
    finished = max(datetime.fromisoformat(r["finished_at"]) for r in records)
    return rate(len(ids), (finished - started).total_seconds())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = stack_settings(workers=0, api_processes=2, api_threads=32, stream_slots=16)
        running = start_stack(Path(tmp) / "stack", settings)
        try:
            base = running.url
            direct = f"http://127.0.0.1:{settings.api_ports[0]}/"
            hammer(base + "/", total=200)  # warm up connections and imports
            via_lb = hammer(base + "/")
            direct_rate = hammer(direct)
            one_rate, _ = submit_one_by_one(base, JOBS)
            batch_rate, _ = submit_batches(base, JOBS)
            report = [
                f"GET / through Traefik: {via_lb:8.0f} req/s",
                f"GET / straight to api.1: {direct_rate:8.0f} req/s",
                f"  Traefik / direct: {via_lb / direct_rate:.2f}",
                f"POST /jobs, one per request: {one_rate:8.0f} jobs/s",
                f"POST /jobs/batch, 250 per request: {batch_rate:8.0f} jobs/s",
                f"  batch / single: {batch_rate / one_rate:.1f}",
            ]
        finally:
            running.stack.stop()

    worker_rates = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            settings = dataclasses.replace(stack_settings(), workers=workers, worker_threads=8)
            running = start_stack(Path(tmp) / "stack", settings)
            try:
                _, ids = submit_batches(running.url, JOBS)
                worker_rates[workers] = drain_rate(running.url, ids)
            finally:
                running.stack.stop()
    report += [
        f"'add' jobs processed, 1 worker process: {worker_rates[1]:8.0f} jobs/s",
        f"'add' jobs processed, 2 worker processes: {worker_rates[2]:8.0f} jobs/s",
        f"  2 workers / 1 worker: {worker_rates[2] / worker_rates[1]:.2f}",
    ]
    print("\n".join(report))


if __name__ == "__main__":
    main()
