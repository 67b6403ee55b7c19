"""Redis behind Sentinel fails over, twice, and no job the service acknowledged is lost.

The local stack with REDIS_REPLICAS=2 (a master, two replicas, three
sentinels), 100 client threads submitting ``add`` jobs through the load
balancer and a few slow jobs running: the master is SIGKILLed and stays
down (its restart waits, as a lost machine would) until the sentinels have
promoted a replica and the service accepts submissions again; it then comes
back as a replica, and the new master is killed in turn.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis
import requests

from services.stack import sentinel
from tests.support import free_port_range, free_ports, wait_for

from .conftest import RunningStack, stack_settings, start_stack
from .test_healing import Clients, answers, every_job_succeeded_once

#: A killed node starts again this long after (and the sentinels give up on it after 2 s).
NODE_AWAY_SECONDS = 10
#: Jobs running through each failover: count_slowly to 30, every 0.1 s.
SLOW_JOBS = 4


@pytest.fixture
def running(tmp_path) -> Iterator[RunningStack]:
    settings = stack_settings(
        workers=1,
        api_processes=1,
        redis_replicas=2,
        redis_port=free_port_range(3),
        sentinel_ports=tuple(free_ports(3)),
        restart_delay_seconds=NODE_AWAY_SECONDS,
    )
    running = start_stack(tmp_path, settings)
    try:
        yield running
    finally:
        running.stack.stop()


def master_port(running: RunningStack) -> int:
    _host, port = sentinel_client(running).sentinel_get_master_addr_by_name(
        running.settings.redis_master_name
    )
    return int(port)


def sentinel_client(running: RunningStack) -> redis.Redis:
    host, port = running.settings.sentinel_addresses[0]
    return redis.Redis(host, port, decode_responses=True, socket_timeout=2)


def node_name(running: RunningStack, port: int) -> str:
    return f"redis.{sentinel.node_ports(running.settings).index(port) + 1}"


def replicates(port: int, master: int) -> bool:
    """Whether the node on ``port`` is a replica of ``master``, in sync with it."""
    try:
        info = redis.Redis("127.0.0.1", port, socket_timeout=1).info("replication")
    except redis.RedisError:
        return False
    return (
        info["role"] == "slave"
        and info["master_port"] == master
        and info["master_link_status"] == "up"
    )


def queue_metrics(running: RunningStack) -> bool:
    try:
        response = requests.get(f"{running.dashboard_url}/metrics", timeout=2)
    except requests.RequestException:
        return False
    return response.status_code == 200 and "jobqueue_queue_messages" in response.text


def fail_over(running: RunningStack, clients: Clients) -> float:
    """Kill the master while clients submit; the seconds until a submission was accepted."""
    old = master_port(running)
    before = len(clients.accepted)
    slow = [
        # Ahead of the clients' backlog.
        running.submit(
            "count_slowly", kwargs={"to": 30, "interval": 0.1}, options={"priority": "high"}
        )
        for _ in range(SLOW_JOBS)
    ]
    wait_for(
        lambda: all(running.job(job_id)["state"] == "running" for job_id in slow),
        timeout=20,
        what="the slow jobs to run",
    )
    # The master and everything it started die at once, as in a crash.
    os.killpg(running.stack.supervisor.processes[node_name(running, old)].pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(running.accepts, timeout=30, interval=0.1, what="a submission accepted")
    took = time.monotonic() - killed_at
    wait_for(lambda: answers(running), timeout=30, interval=0.1, what="the service to answer")
    print(f"accepts at {took:.1f} s, answers at {time.monotonic() - killed_at:.1f} s")
    # The queue metrics, read from Redis when scraped, come from the new master.
    wait_for(lambda: queue_metrics(running), timeout=30, what="the dashboard's metrics")
    new = master_port(running)
    assert new != old
    # Clients keep submitting for a while after the failover.
    wait_for(lambda: len(clients.accepted) >= before + 300, timeout=60, what="more jobs")
    # The slow jobs that ran through it end, their end written on the new master.
    for job_id in slow:
        assert running.ended(job_id, timeout=60)["state"] == "succeeded"
    # The old master comes back as the new one's replica.
    wait_for(
        lambda: replicates(old, new),
        timeout=NODE_AWAY_SECONDS + 30,
        what=f"the old master ({old}) to replicate the new one ({new})",
    )
    return took


def test_two_failovers_lose_no_acknowledged_job(running):
    with Clients(running.url) as clients:
        wait_for(lambda: len(clients.accepted) >= 200, timeout=30, what="jobs to be accepted")
        first_took = fail_over(running, clients)
        second_took = fail_over(running, clients)
    print(
        f"accepted submissions again {first_took:.1f} s and {second_took:.1f} s after the "
        f"master's kill; {len(clients.accepted)} jobs accepted, {clients.refused} refused"
    )
    # Sentinel gives the master SENTINEL_DOWN_AFTER_MS (2 s), then elects and promotes.
    assert max(first_took, second_took) < 15

    # Every job the service accepted succeeds, once.
    starts = every_job_succeeded_once(running, clients.accepted, timeout=60)
    print(f"{sum(count > 1 for count in starts)} jobs started again after a failover")
