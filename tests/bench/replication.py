"""What waiting for a replica costs a submission: the job store on a master with one replica.

A master and a replica of it, on free ports, run by the server the stack
runs; client threads submit one job each call (``JobStore.create_many``, the
call ``POST /jobs`` makes), first answered once a replica has the write
(``WAIT 1``, as REDIS_SENTINELS makes it), then answered at once. Measured
from the client's side: submissions per second and their latency.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import redis

from actors import lifecycle
from actors.job_request import JobRequest
from actors.record import JobRecord
from actors.replication import NO_CONFIRMATION, Confirmation
from actors.store import JobStore, NewJob
from services.stack.redis_server import server_command
from tests.support import first_redis_server, free_ports, wait_for

from .jobs import percentile

#: Client threads submitting at once, as an API process's requests do.
THREADS = 8


@contextlib.contextmanager
def master_and_replica(run_dir: Path) -> Iterator[redis.Redis]:
    """A master with one replica in sync; yields a client of the master."""
    master_port, replica_port = free_ports(2)
    processes = []
    for port, extra in (
        (master_port, []),
        (replica_port, ["--replicaof", "127.0.0.1", str(master_port)]),
    ):
        data_dir = run_dir / f"replication-{port}"
        data_dir.mkdir(parents=True)
        argv = server_command(first_redis_server(), host="127.0.0.1", port=port, data_dir=data_dir)
        processes.append(
            subprocess.Popen([*argv, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    master = redis.Redis("127.0.0.1", master_port)
    replica = redis.Redis("127.0.0.1", replica_port)
    try:
        wait_for(lambda: _in_sync(replica), timeout=30, what="the replica to sync")
        yield master
    finally:
        for process in processes:
            process.kill()
            process.wait(10)


def _in_sync(replica: redis.Redis) -> bool:
    try:
        return replica.info("replication")["master_link_status"] == "up"
    except redis.ConnectionError:
        return False


def submissions(master: redis.Redis, confirmation: Confirmation, seconds: float) -> dict:
    """``THREADS`` threads submitting one job a call for ``seconds``: jobs/s and latency."""
    store = JobStore(master, retention_seconds=60, confirmation=confirmation)
    store.create_many([NewJob(_record())])  # loads the script
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def submit() -> None:
        mine = []
        while time.monotonic() < deadline:
            job = NewJob(_record())
            started = time.perf_counter()
            store.create_many([job])
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=submit) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "jobs_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def _record() -> JobRecord:
    return lifecycle.submit(
        JobRequest(actor="add", args=[1, 2]), job_id=str(uuid4()), queue="default"
    )


def measure(run_dir: Path, seconds: float) -> dict:
    """Submissions waiting for one replica, then answered at once, on the same pair."""
    with master_and_replica(run_dir) as master:
        return {
            "confirmed": submissions(master, Confirmation(replicas=1, timeout_ms=1000), seconds),
            "unconfirmed": submissions(master, NO_CONFIRMATION, seconds),
        }
