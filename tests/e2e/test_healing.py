"""The local stack heals: any one of its processes killed as a crash would, while clients submit.

Each case starts its own stack, lets 100 client threads submit ``add`` jobs
through the load balancer, SIGKILLs one process, and checks what a user
would: the stack answers again, every job it accepted (202) succeeds, none
succeeds twice, and once stopped nothing of it is left running. Redis
killed may undo what it answered in the moment before (its append-only
file is synced every second): the jobs submitted then, and only those, may
be gone, and the jobs fetched then run again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import actors
from actors.store import TERMINAL_STATES
from services.stack.supervisor import group_members
from tests.support import ClientThreads, wait_for

from .conftest import RunningStack, stack_settings, start_stack

#: The process each case kills: the supervised process, or (True) the one process it started.
VICTIMS = {
    "worker main": ("worker.1", False),
    "worker child": ("worker.1", True),
    "api master": ("api.1", False),
    "api worker": ("api.1", True),
    "dashboard": ("dashboard", False),
    "redis": ("redis", False),
    "traefik": ("traefik", False),
}
CLIENTS = 100
#: How long before its kill Redis may have answered writes its append-only
#: file has not got: while a sync of the file is slow, it holds the file's
#: writes back for up to two seconds (README, "Redis is killed"). With some
#: room for the client to note the answer.
UNWRITTEN_SECONDS = 2.5


def victim(running: RunningStack, kind: str) -> int:
    name, child = VICTIMS[kind]
    leader = running.stack.supervisor.processes[name].pid
    if not child:
        return leader
    children = set(group_members(leader)) - {leader}
    # The one that runs the jobs or serves requests: a worker's leader also
    # forks its metrics server, after its worker process.
    return min(children, key=started_at)


def started_at(pid: int) -> int:
    """When the process started, in clock ticks since boot (field 22 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[19])


class Clients(ClientThreads):
    """``CLIENTS`` threads submitting ``add`` jobs until stopped; what was accepted, by id."""

    def __init__(self, url: str):
        super().__init__(url, CLIENTS, join_timeout=30)
        self.accepted: dict[str, float] = {}
        #: When each accepted job's answer came (``time.monotonic()``), by id.
        self.answered_at: dict[str, float] = {}
        self.refused = 0

    def round(self, http: requests.Session, number: int, count: int) -> None:
        job = {"actor": "add", "args": [number, count]}
        try:
            response = http.post(f"{self.url}/jobs", json=job, timeout=10)
        except requests.RequestException:
            response = None
        with self.lock:
            if response is not None and response.status_code == 202:
                job_id = response.json()["id"]
                self.accepted[job_id] = number + count
                self.answered_at[job_id] = time.monotonic()
                return
            self.refused += 1
        # Refused (the stack is healing): a client backs off a little.
        time.sleep(0.1)


def answers(running: RunningStack) -> bool:
    """A job submitted now is accepted and can be looked up, and the dashboard answers.

    (That it also runs is what the end of the test checks, with every other job.)
    """
    try:
        submitted = running.post("/jobs", json={"actor": "add", "args": [1, 2]}, timeout=2)
        if submitted.status_code != 202:
            return False
        looked_up = running.get(f"/jobs/{submitted.json()['id']}", timeout=2)
        admin = running.get("/admin/", auth=running.admin, timeout=2)
    except requests.RequestException:
        return False
    return looked_up.status_code == 200 and admin.status_code == 200


def served_by(running: RunningStack, instance: str) -> bool:
    try:
        responses = [running.get("/", timeout=2) for _ in range(4)]
    except requests.RequestException:
        return False
    return any(response.headers.get("X-Served-By") == instance for response in responses)


@pytest.fixture
def running(tmp_path) -> Iterator[RunningStack]:
    # HEARTBEAT_TIMEOUT_MS: a SIGKILLed worker's jobs come back only once its
    # heartbeat is this old (60 s by default); short here so that the worker
    # cases end within the test.
    settings = stack_settings(workers=1, api_processes=1, heartbeat_timeout_ms=3_000)
    running = start_stack(tmp_path, settings)
    try:
        yield running
    finally:
        running.stack.stop()


def undone_by_the_kill(running: RunningStack, clients: Clients, killed_at: float) -> set[str]:
    """The accepted jobs Redis has no record of: each answered just before its kill.

    Redis answers a write before it is in its append-only file
    (``appendfsync everysec``), and a kill undoes what the file had not got:
    a job answered in the last UNWRITTEN_SECONDS may be gone, wholly. One
    answered earlier may not.
    """
    queue = actors.connect(running.settings.queue_config())
    stored = queue.store.get_many(list(clients.accepted))
    undone = {job_id for job_id, record in zip(clients.accepted, stored, strict=True) if not record}
    earliest = killed_at - UNWRITTEN_SECONDS
    assert all(clients.answered_at[job_id] >= earliest for job_id in undone), sorted(
        clients.answered_at[job_id] - killed_at for job_id in undone
    )
    return undone


def every_job_succeeded_once(
    running: RunningStack, accepted: dict[str, float], timeout: float
) -> list[int]:
    """Assert that each job in ``accepted`` (id: its expected result) succeeded once.

    Returns how many attempts each one counts (each start counts one).
    """
    queue = actors.connect(running.settings.queue_config())
    stored = queue.store.get_many(list(accepted))
    records = {
        job_id: record and record.model_dump(mode="json")
        for job_id, record in zip(accepted, stored, strict=True)
    }
    for job_id, record in records.items():
        if record is None or record["state"] not in TERMINAL_STATES:
            records[job_id] = running.ended(job_id, timeout=timeout)
    assert {record["state"] for record in records.values()} == {"succeeded"}
    assert [record["result"] for record in records.values()] == list(accepted.values())
    # Nothing happened to a job after its end: its stream holds that end alone.
    kept = [[event["state"] for _, event in queue.store.events(job_id)] for job_id in records]
    assert all(states == ["succeeded"] for states in kept)
    return [record["attempts"] for record in records.values()]


@pytest.mark.parametrize("kind", list(VICTIMS))
def test_killing_one_process_loses_no_job_and_leaves_nothing_behind(running, kind):
    with Clients(running.url) as clients:
        wait_for(lambda: len(clients.accepted) >= 200, timeout=30, what="jobs to be accepted")
        killed_at = time.monotonic()
        os.kill(victim(running, kind), signal.SIGKILL)
        before_kill = len(clients.accepted)
        wait_for(lambda: answers(running), timeout=10, interval=0.1, what="the stack to answer")
        print(f"{kind}: answered again {time.monotonic() - killed_at:.1f} s after the kill")
        # Clients keep submitting for a while after it healed.
        wait_for(lambda: len(clients.accepted) >= before_kill + 200, timeout=30, what="more jobs")
    if VICTIMS[kind][0] == "api.1":
        # The restarted instance takes requests again once its health check passes.
        wait_for(lambda: served_by(running, "api.1"), timeout=30, what="api.1 to rejoin")

    print(f"{kind}: {len(clients.accepted)} jobs accepted, {clients.refused} submissions refused")
    accepted = clients.accepted
    if kind == "redis":
        undone = undone_by_the_kill(running, clients, killed_at)
        print(f"{kind}: {len(undone)} jobs answered just before the kill were undone by it")
        accepted = {job_id: result for job_id, result in accepted.items() if job_id not in undone}
    # Every job the stack accepted (and kept) succeeds, once.
    starts = every_job_succeeded_once(running, accepted, timeout=30)
    if VICTIMS[kind][0] not in ("worker.1", "redis"):
        # No worker died, and Redis undid no fetch: no job even started twice.
        assert set(starts) == {1}
    print(f"{kind}: {sum(count > 1 for count in starts)} jobs started again after the kill")

    running.stack.stop()
    groups = [group for started in running.stack.supervisor.groups.values() for group in started]
    assert [pid for group in groups for pid in group_members(group)] == []
