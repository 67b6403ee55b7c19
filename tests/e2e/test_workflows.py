"""Workflows on the local stack, through the load balancer: results flow, and every workflow ends.

Two worker processes run the steps; one is SIGKILLed while a group's steps
run, and the step after the group still starts once, with every result. The
DAG page follows a workflow in Chromium until it ends.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from playwright.sync_api import expect

from tests.support import wait_for

from .conftest import RunningStack
from .test_admin_jobs import page, screenshots_on_failure, shots  # noqa: F401 (fixtures)
from .test_template_page import JOB_WAIT_MS, browser  # noqa: F401 (a fixture)

WAIT_SECONDS = 60


def add(*args) -> dict:
    return {"actor": "add", "args": list(args)}


def slow(to: int, interval: float = 0.25) -> dict:
    return {"actor": "count_slowly", "kwargs": {"to": to, "interval": interval}, "receives": False}


def submit(stack: RunningStack, workflow: dict) -> dict:
    response = stack.post("/workflows", json={"workflow": workflow})
    assert response.status_code == 202, response.text
    return response.json()


def workflow(stack: RunningStack, workflow_id: str) -> dict:
    response = stack.get(f"/workflows/{workflow_id}")
    assert response.status_code == 200, response.text
    return response.json()


def ended(stack: RunningStack, workflow_id: str, timeout: float = WAIT_SECONDS) -> dict:
    return wait_for(
        lambda: (found := workflow(stack, workflow_id))["state"] != "running" and found,
        timeout=timeout,
        interval=0.2,
        what=f"workflow {workflow_id} to end",
    )


def step_jobs(stack: RunningStack, record: dict) -> list[dict]:
    return [stack.job(step["job_id"]) for step in record["steps"]]


def test_a_chain_of_three_hands_each_result_on(stack):
    record = ended(stack, submit(stack, {"chain": [add(1, 2), add(10), add(100)]})["id"])

    assert (record["state"], record["result"]) == ("succeeded", 113)
    assert [job["args"] for job in step_jobs(stack, record)] == [[1, 2], [3, 10], [13, 100]]


def test_a_fan_out_of_100_is_gathered_by_one_step(stack):
    fan_out = {"group": [{**add(n, 0), "receives": False} for n in range(100)]}
    record = ended(stack, submit(stack, {"chain": [fan_out, {"actor": "total"}]})["id"])

    assert (record["state"], record["result"]) == ("succeeded", sum(range(100)))
    gathering = stack.job(record["steps"][-1]["job_id"])
    assert (gathering["args"], gathering["attempts"]) == ([list(range(100))], 1)


@pytest.mark.parametrize(
    ("on_failure", "state", "result"),
    [
        ("fail", "failed", None),
        ("ignore", "succeeded", [2, None, 4]),
        ("continue", "succeeded", [2, 4]),
    ],
)
def test_a_failing_step_ends_its_workflow_as_its_policy_says(stack, on_failure, state, result):
    failing = {"actor": "fail", "kwargs": {"permanent": True}, "on_failure": on_failure}
    group = [{**add(1, 1), "receives": False}, failing, {**add(2, 2), "receives": False}]
    record = ended(stack, submit(stack, {"group": group})["id"])

    assert (record["state"], record["result"]) == (state, result)
    assert record["steps"][1]["state"] == "failed"
    assert record["error"] == (
        {"step": 1, "job": record["steps"][1]["job_id"], "state": "failed"}
        if on_failure == "fail"
        else None
    )


def test_cancelling_a_workflow_stops_every_step(stack):
    submitted = submit(stack, {"chain": [{"group": [slow(200), slow(200)]}, add(1)]})
    wait_for(
        lambda: (
            [s["state"] for s in workflow(stack, submitted["id"])["steps"]]
            == ["running", "running", "waiting"]
        ),
        timeout=WAIT_SECONDS,
        what="both slow steps to run",
    )

    response = stack.delete(f"/workflows/{submitted['id']}")

    assert response.status_code == 200, response.text
    assert [s["state"] for s in response.json()["steps"]] == ["cancelled"] * 3
    # The running ones were interrupted where they ran: their progress stops.
    progress = [job.get("progress") for job in step_jobs(stack, response.json())[:2]]
    time.sleep(1)
    assert [job.get("progress") for job in step_jobs(stack, response.json())[:2]] == progress


def test_a_worker_killed_during_a_fan_in_loses_no_step_and_starts_the_next_once(stack):
    members = [slow(12, 0.25) for _ in range(8)]
    submitted = submit(stack, {"chain": [{"group": members}, {"actor": "total"}]})

    def running_on() -> dict[str, str]:
        """The group's steps running now, and the worker process each runs on."""
        jobs = step_jobs(stack, workflow(stack, submitted["id"]))[:-1]
        return {job["id"]: job["worker_name"] for job in jobs if job["state"] == "running"}

    running = wait_for(
        lambda: len(found := running_on()) >= 2 and found,
        timeout=WAIT_SECONDS,
        what="the group's steps to run",
    )
    # One of the worker processes that run them, killed as a crash would.
    victim = min(int(name.rpartition(":")[2]) for name in running.values())
    killed = [job for job, name in running.items() if name.endswith(f":{victim}")]
    os.kill(victim, signal.SIGKILL)

    record = ended(stack, submitted["id"], timeout=WAIT_SECONDS + 30)

    assert (record["state"], record["result"]) == ("succeeded", 12 * 8)
    jobs = step_jobs(stack, record)
    assert jobs[-1]["attempts"] == 1
    assert all(job["state"] == "succeeded" for job in jobs)
    # The killed worker's steps ran again elsewhere: started twice, counted once.
    assert {job["id"]: job["attempts"] for job in jobs if job["id"] in killed} == dict.fromkeys(
        killed, 2
    )


@screenshots_on_failure
def test_the_dag_page_follows_a_workflow_to_its_end(stack, page, shots):  # noqa: F811
    submitted = submit(
        stack,
        # Long enough to be seen running on a loaded machine, never a timing.
        {"chain": [slow(40), {"group": [add(1), add(2)]}, {"actor": "total"}]},
    )

    # Every page's bar leads to the workflows, dramatiq-dashboard's own pages too.
    page.goto(f"{stack.url}/admin/queues/default")
    page.click("nav #workflows-link")
    expect(page).to_have_url(f"{stack.url}/admin/workflows")
    shots.take("workflows")
    page.locator(f'a[href="/admin/workflows/{submitted["id"]}"]').click()
    expect(page.locator("#dag .step")).to_have_count(4)
    # The first step runs, and the others wait, coloured so while the page is open.
    expect(page.locator("#workflow-live")).to_be_visible(timeout=JOB_WAIT_MS)
    expect(page.locator("#step-0")).to_have_attribute("data-state", "running", timeout=JOB_WAIT_MS)
    expect(page.locator("#step-3")).to_have_attribute("data-state", "waiting")
    shots.take("running")

    expect(page.locator("#workflow-state")).to_have_attribute(
        "data-state", "succeeded", timeout=JOB_WAIT_MS
    )
    # count_slowly(40) is 40; add(40, 1) and add(40, 2); total([41, 42]).
    expect(page.locator("#workflow-result")).to_have_text("83", timeout=JOB_WAIT_MS)
    shots.take("succeeded")
    for step in range(4):
        expect(page.locator(f"#step-{step}")).to_have_attribute("data-state", "succeeded")
    expect(page.locator("#cancel")).to_have_count(0)
