"""deploy/swarm/stack.yml on a Swarm of three nodes: what only several machines show.

Jobs submitted through Traefik on the manager run on every node; the workers
scale out and in, and one told to stop finishes or hands back its jobs; a
rolling update of the API fails no request that may be sent twice; a node
lost with its jobs has them run again elsewhere. The tests share one swarm
(see conftest.py) and run in this order: the last one kills a node.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.support import wait_for

from .cluster import MANAGER, NODES, REDIS_NODE, SwarmStack
from .conftest import MEASURED

# The first test sets the swarm up, the last tears it down: within their time.
pytestmark = [pytest.mark.swarm, pytest.mark.timeout(900)]

#: One step of count_slowly, in seconds.
STEP = 0.25
#: How soon a lost node's jobs must run again (its workers' heartbeats stop;
#: HEARTBEAT_TIMEOUT_MS, 10 s by default, later another worker takes them).
REDELIVERY_SECONDS = 15


def node_of(worker_name: str) -> str:
    """The node of a worker named ``worker-SLOT.NODE:PID`` (the stack file's hostname)."""
    return worker_name.partition(":")[0].partition(".")[2]


def host_of(worker_name: str) -> str:
    return worker_name.partition(":")[0]


def submit_slow_jobs(stack: SwarmStack, count: int, seconds: float) -> list[str]:
    steps = max(1, round(seconds / STEP))
    body = {"to": steps, "interval": STEP}
    return [stack.submit("count_slowly", kwargs=body) for _ in range(count)]


def running(stack: SwarmStack, job_ids: list[str]) -> dict[str, str]:
    """Of ``job_ids``, those running now: id to the worker running it.

    None seen when a request fails. Right after a node is lost, Traefik sends
    requests to its api task until the health check takes it out: those
    that fail on every attempt answer 502, and one sent down a kept-alive
    connection to it waits for an answer that never comes.
    """
    records = {}
    for job_id in job_ids:
        try:
            response = stack.get(f"/jobs/{job_id}", timeout=3)
        except requests.Timeout:
            return {}
        if response.status_code != 200:
            return {}
        records[job_id] = response.json()
    return {i: r["worker_name"] for i, r in records.items() if r["state"] == "running"}


def all_succeeded(stack: SwarmStack, job_ids: list[str]) -> list[dict]:
    records = [stack.ended(job_id, timeout=180) for job_id in job_ids]
    assert [record["state"] for record in records] == ["succeeded"] * len(job_ids), records
    return records


def grace_seconds(stack: SwarmStack) -> float:
    """How long Swarm waits for a stopping worker before it SIGKILLs it."""
    return float(stack.swarm.variables["WORKER_STOP_GRACE_PERIOD"].removesuffix("s"))


def threads(stack: SwarmStack) -> int:
    """Worker threads in the whole swarm."""
    return stack.swarm.replicas("worker") * stack.settings.worker_threads


def test_jobs_through_traefik_run_on_workers_of_every_node(swarm):
    job_ids = submit_slow_jobs(swarm, 2 * threads(swarm), seconds=1)

    records = all_succeeded(swarm, job_ids)
    assert {node_of(record["worker_name"]) for record in records} == set(NODES)
    served = {swarm.get("/").headers["X-Served-By"] for _ in range(30)}
    assert served == swarm.api_names
    assert len({name.partition(".")[2] for name in served}) > 1, served
    # Redis stays where its volume is; Traefik where it reads the swarm.
    assert [task["Node"] for task in swarm.swarm.tasks("redis")] == [REDIS_NODE]
    assert [task["Node"] for task in swarm.swarm.tasks("traefik")] == [MANAGER]


def test_scaled_out_workers_take_jobs(swarm):
    before = swarm.swarm.hostnames("worker")

    swarm.swarm.scale("worker", 5)

    added = swarm.swarm.hostnames("worker") - before
    assert len(added) == 2, added
    taken: set[str] = set()

    def new_workers_took_jobs():
        # A worker's task runs before dramatiq is ready in it: batches until it takes some.
        job_ids = submit_slow_jobs(swarm, 2 * threads(swarm), seconds=1)
        taken.update(host_of(record["worker_name"]) for record in all_succeeded(swarm, job_ids))
        return added <= taken

    wait_for(new_workers_took_jobs, timeout=120, interval=0, what=f"{added} to take jobs")


def scraped_up(swarm: SwarmStack, job: str) -> int:
    """How many targets of ``job`` the stack's Prometheus (on the manager) scrapes now."""
    (container,) = swarm.swarm.node_docker(
        MANAGER, "ps", "--quiet", "--filter",
        f"label=com.docker.swarm.service.name={swarm.swarm.service('prometheus')}",
    ).split()  # fmt: skip
    answer = swarm.swarm.node_docker(
        MANAGER, "exec", container, "promtool", "query", "instant", "http://127.0.0.1:9090",
        f'count(up{{job="{job}"}} == 1)',
    )  # fmt: skip
    found = re.search(r"=> (\d+)", answer)
    return int(found[1]) if found else 0


def test_prometheus_scrapes_every_task_of_each_service(swarm):
    """The stack's Prometheus finds each task as tasks.NAME over the nodes, however scaled."""
    for job, service in (("worker", "worker"), ("api", "api")):
        tasks = len(swarm.swarm.tasks(service))
        wait_for(
            lambda job=job, tasks=tasks: scraped_up(swarm, job) == tasks,
            timeout=90,
            what=f"Prometheus to scrape the {tasks} tasks of {service}",
        )


@contextlib.contextmanager
def worker_stops(swarm: SwarmStack) -> Iterator[Callable[[int], tuple[set[str], list]]]:
    """Docker's events of worker containers from now on, on every node, as they happen.

    Yields what reads them once ``count`` containers signalled from now on
    have stopped: the signals sent, and for each of those containers its exit
    code and the seconds from its first signal to its end. A container
    signalled before then, one still stopping from an earlier scale-in say,
    is not counted. Followed live, not read back with ``docker events
    --since``: a daemon keeps its last 256 events only, and the health
    checks' exec events can push a signal out of them before the test reads it.
    """
    service = f"label=com.docker.swarm.service.name={swarm.swarm.service('worker')}"
    since = f"{time.time():.6f}"
    command = (
        "events", "--since", since, "--format", "{{json .}}",
        "--filter", "type=container", "--filter", service,
        "--filter", "event=kill", "--filter", "event=die",
    )  # fmt: skip
    events: list[dict] = []
    followers = [swarm.swarm.follow(node, *command) for node in NODES]
    for follower in followers:
        threading.Thread(
            target=lambda out: events.extend(json.loads(line) for line in out),
            args=(follower.stdout,),
            daemon=True,
        ).start()

    def signalled_stops() -> tuple[set[str], list[tuple[str, float]]]:
        seen = list(events)
        signalled: dict[str, int] = {}
        for event in seen:
            if event["Action"] == "kill":
                signalled.setdefault(event["id"], event["timeNano"])
        signals = {
            event["Actor"]["Attributes"]["signal"] for event in seen if event["Action"] == "kill"
        }
        return signals, [
            (
                event["Actor"]["Attributes"]["exitCode"],
                (event["timeNano"] - signalled[event["id"]]) / 1e9,
            )
            for event in seen
            if event["Action"] == "die" and event["id"] in signalled
        ]

    def stops(count: int) -> tuple[set[str], list[tuple[str, float]]]:
        wait_for(
            lambda: len(signalled_stops()[1]) >= count,
            timeout=60,
            what=f"{count} signalled worker container(s) to stop",
        )
        return signalled_stops()

    try:
        yield stops
    finally:
        for follower in followers:
            follower.kill()
            follower.wait()


def test_workers_scaled_in_finish_or_hand_back_their_jobs(swarm):
    swarm.swarm.scale("worker", 3)
    # Every thread busy for 6 s, as many jobs again waiting behind them.
    job_ids = submit_slow_jobs(swarm, 2 * threads(swarm), seconds=6)
    held = wait_for(
        lambda: (jobs := running(swarm, job_ids)) and len(jobs) == threads(swarm) and jobs,
        timeout=60,
        what="every worker thread to run a job",
    )
    with worker_stops(swarm) as stopped:
        started = time.monotonic()
        swarm.swarm.scale("worker", 1)
        took = time.monotonic() - started
        # Swarm's SIGTERM, never its SIGKILL: each stopped worker exits by itself, within its grace.
        signals, stops = stopped(2)

    MEASURED["scaling in 3 to 1"] = f"{took:.1f} s"
    (kept,) = swarm.swarm.hostnames("worker")
    assert {host_of(name) for name in held.values()} - {kept}, "no stopped worker ran a job"
    # The jobs running on the stopped workers finished there; the others ran
    # once each too, whoever had fetched them.
    records = dict(zip(job_ids, all_succeeded(swarm, job_ids), strict=True))
    assert {r["worker_name"] for i, r in records.items() if i in held} == set(held.values())
    for job_id, record in records.items():
        assert (record["attempts"], record["result"]) == (1, 24), record
        if job_id in held:
            assert record["worker_name"] == held[job_id], record
    assert signals == {"15"}, stops
    assert [code for code, _ in stops] == ["0", "0"], stops
    assert all(seconds < grace_seconds(swarm) for _, seconds in stops), stops


def test_a_worker_updated_mid_job_hands_it_back_within_its_grace_period(swarm):
    # A job that outlasts the time a stopping worker waits for it.
    grace = 10
    swarm.swarm.docker(
        "service", "update", "--detach=false", "--env-add", "WORKER_SHUTDOWN_TIMEOUT_MS=2000",
        "--stop-grace-period", f"{grace}s", swarm.swarm.service("worker"), timeout=600,
    )  # fmt: skip
    swarm.swarm.wait_until_converged()
    (job_id,) = submit_slow_jobs(swarm, 1, seconds=12)
    wait_for(lambda: running(swarm, [job_id]), timeout=120, what="the job to run")
    first_start = swarm.job(job_id)["started_at"]
    with worker_stops(swarm) as stopped:
        swarm.swarm.docker("service", "update", "--force", "--detach=false",
                           swarm.swarm.service("worker"), timeout=600)  # fmt: skip
        signals, stops = stopped(1)

    record = swarm.ended(job_id, timeout=120)
    assert (record["state"], record["result"]) == ("succeeded", 48), record
    # Run again, from the start, by the worker that took the stopped one's place
    # (which may have its name: the same slot on the same node).
    assert record["started_at"] > first_start, record
    assert host_of(record["worker_name"]) in swarm.swarm.hostnames("worker")
    assert signals == {"15"}, stops
    ((code, seconds),) = stops
    assert code == "0", stops
    assert seconds < grace, stops
    MEASURED["a worker stopped mid-job"] = f"exited {seconds:.1f} s after SIGTERM"


def test_a_rolling_update_of_the_api_fails_no_idempotent_request(swarm):
    job_id = swarm.submit("add", kwargs={"a": 1, "b": 2})
    before = {task["ID"] for task in swarm.swarm.tasks("api")}
    failures: list[str] = []
    answers: list[str] = []
    updating = threading.Event()
    updating.set()

    def ask():
        session = requests.Session()
        while updating.is_set():
            for path in ("/", f"/jobs/{job_id}"):
                try:
                    response = session.get(swarm.url + path, timeout=10)
                except OSError as error:
                    failures.append(f"GET {path}: {error}")
                    continue
                answers.append(response.headers.get("X-Served-By", ""))
                if response.status_code != 200:
                    failures.append(f"GET {path}: {response.status_code} {response.text[:200]}")

    clients = [threading.Thread(target=ask) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        swarm.swarm.docker("service", "update", "--force", "--detach=false",
                           swarm.swarm.service("api"), timeout=600)  # fmt: skip
        swarm.swarm.wait_until_converged()
        swarm.wait_until_balanced()
    finally:
        updating.clear()
        for client in clients:
            client.join()

    MEASURED["rolling update"] = f"{len(answers)} requests, {len(failures)} failed"
    assert not (before & {task["ID"] for task in swarm.swarm.tasks("api")}), "no task was replaced"
    assert failures == [], f"{len(failures)} of {len(answers)} failed: {failures[:5]}"
    assert len(answers) > 100


def test_a_lost_nodes_jobs_run_again_on_the_other_nodes(swarm):
    swarm.swarm.scale("worker", 3)
    victim = "worker-2"
    assert victim in {task["Node"] for task in swarm.swarm.tasks("worker")}
    # Long enough to be running when the node goes, short enough that the
    # other nodes' threads are free again when the lost jobs come back.
    job_ids = submit_slow_jobs(swarm, threads(swarm), seconds=6)
    held = wait_for(
        lambda: (jobs := running(swarm, job_ids)) and len(jobs) == len(job_ids) and jobs,
        timeout=60,
        what="every job to run",
    )
    lost = {job_id for job_id, worker in held.items() if node_of(worker) == victim}
    assert lost, held

    swarm.swarm.kill(victim)
    killed = time.monotonic()

    def running_elsewhere():
        now = running(swarm, sorted(lost))
        return all(job_id in now and node_of(now[job_id]) != victim for job_id in lost)

    wait_for(running_elsewhere, timeout=60, interval=0.2, what="the lost jobs to run again")
    redelivered = time.monotonic() - killed
    MEASURED["lost jobs running again"] = f"{redelivered:.1f} s after the kill"
    records = all_succeeded(swarm, job_ids)
    assert [record["result"] for record in records] == [24] * len(job_ids)
    assert {node_of(record["worker_name"]) for record in records} <= set(NODES) - {victim}
    assert redelivered < REDELIVERY_SECONDS, f"the lost jobs ran again after {redelivered:.1f} s"
