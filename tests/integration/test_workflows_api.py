"""``/workflows`` over HTTP, in process, with a worker on a real Redis."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import assert_problem, follow_stream, sse_events, wait_for

CHAIN = {
    "chain": [
        {"actor": "add", "args": [1, 2]},
        {"group": [{"actor": "add", "args": [10]}, {"actor": "add", "args": [20]}]},
        {"actor": "total"},
    ]
}


def submit(client, workflow) -> dict:
    response = client.simulate_post("/workflows", json={"workflow": workflow})
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/workflows/{response.json['id']}"
    return response.json


def ended(client, workflow_id: str) -> dict:
    def record():
        found = client.simulate_get(f"/workflows/{workflow_id}").json
        return found if found["state"] != "running" else None

    return wait_for(record, timeout=30, what=f"workflow {workflow_id} to end")


def test_a_workflow_submitted_over_http_runs_to_its_result(client, worker):
    submitted = submit(client, CHAIN)
    assert submitted["links"] == {
        "self": f"/workflows/{submitted['id']}",
        "events": f"/workflows/{submitted['id']}/events",
    }
    assert [step["parents"] for step in submitted["steps"]] == [[], [0], [0], [1, 2]]

    record = ended(client, submitted["id"])

    assert (record["state"], record["result"]) == ("succeeded", 36)
    assert record["finished_at"].endswith("+00:00")
    last = client.simulate_get(record["steps"][-1]["links"]["job"]).json
    assert last["args"] == [[13, 23]]
    assert last["workflow"] == {"id": record["id"], "step": 3}


def test_the_events_of_a_workflow_follow_its_steps_to_its_end(client, worker):
    submitted = submit(client, CHAIN)
    stream = follow_stream(client, f"/workflows/{submitted['id']}/events")

    events = [json.loads(event["data"]) for event in sse_events(stream.text.splitlines())]

    assert events[-1]["state"] == "succeeded"
    assert {(e["step"], e["step_state"]) for e in events if "step" in e} >= {
        (step, state) for step in range(4) for state in ("queued", "running", "succeeded")
    }
    # Once ended, a client with every event is told so.
    done = client.simulate_get(
        f"/workflows/{submitted['id']}/events",
        headers={"Last-Event-ID": stream.text.split("id: ")[-1].split("\n")[0]},
    )
    assert done.status_code == 204


def test_workflows_are_listed_newest_first_and_filtered_by_state(client, worker):
    failing = submit(client, {"actor": "fail", "kwargs": {"permanent": True}})
    succeeding = submit(client, {"actor": "add", "args": [1, 2]})
    ended(client, failing["id"]), ended(client, succeeding["id"])

    listed = client.simulate_get("/workflows").json
    assert [w["id"] for w in listed["workflows"]] == [succeeding["id"], failing["id"]]
    failed = client.simulate_get("/workflows", params={"state": "failed"}).json
    assert [w["id"] for w in failed["workflows"]] == [failing["id"]]


def test_a_workflow_is_cancelled_and_retried_over_http(client, worker):
    slow = {"actor": "count_slowly", "kwargs": {"to": 100, "interval": 0.1}}
    submitted = submit(client, {"chain": [slow, {"actor": "add", "args": [1]}]})

    cancelled = client.simulate_delete(f"/workflows/{submitted['id']}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json["state"] == "cancelled"
    assert [step["state"] for step in cancelled.json["steps"]] == ["cancelled", "cancelled"]
    assert_problem(client.simulate_delete(f"/workflows/{submitted['id']}"), 409, "already ended")

    retried = client.simulate_post(f"/workflows/{submitted['id']}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json["state"] == "running"
    assert_problem(client.simulate_post(f"/workflows/{submitted['id']}/retry"), 409, "running")
    client.simulate_delete(f"/workflows/{submitted['id']}")


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"workflow": {"chain": []}}, 422, "workflow/chain"),
        ({"workflow": {"actor": "nope"}}, 422, "workflow: no public job is named 'nope'"),
        (
            {"workflow": {"chain": [{"actor": "add", "args": [1, 2]}, {"actor": "add"}]}},
            422,
            "workflow/chain/1: arguments do not fit add",
        ),
        (
            {"workflow": {"actor": "add", "args": [1, 2], "on_failure": "shrug"}},
            422,
            "on_failure",
        ),
    ],
)
def test_a_workflow_that_does_not_fit_is_refused_whole(client, queue, body, status, detail):
    assert_problem(client.simulate_post("/workflows", json=body), status, detail)
    assert queue.store.client.dbsize() == 0


def test_an_unknown_workflow_is_404(client):
    for response in (
        client.simulate_get("/workflows/nope"),
        client.simulate_delete("/workflows/nope"),
        client.simulate_post("/workflows/nope/retry"),
        client.simulate_get("/workflows/nope/events"),
    ):
        assert_problem(response, 404, "no workflow nope")


def test_the_dashboard_counts_workflows_running_and_ended_by_outcome(client, admin, worker):
    def metrics() -> dict[tuple[str, str], float]:
        reply = admin.simulate_get("/metrics")
        assert reply.status_code == 200, reply.text
        return {
            (sample.name, sample.labels.get("outcome", "")): sample.value
            for family in text_string_to_metric_families(reply.text)
            for sample in family.samples
            if sample.name.startswith("jobqueue_workflows")
        }

    slow = submit(client, {"actor": "count_slowly", "kwargs": {"to": 100, "interval": 0.1}})
    ended(client, submit(client, {"actor": "add", "args": [1, 2]})["id"])
    ended(client, submit(client, {"actor": "fail", "kwargs": {"permanent": True}})["id"])

    assert metrics() == {
        ("jobqueue_workflows_running", ""): 1,
        ("jobqueue_workflows_ended_total", "succeeded"): 1,
        ("jobqueue_workflows_ended_total", "failed"): 1,
        ("jobqueue_workflows_ended_total", "cancelled"): 0,
    }
    client.simulate_delete(f"/workflows/{slow['id']}")
    assert metrics()[("jobqueue_workflows_ended_total", "cancelled")] == 1
    assert metrics()[("jobqueue_workflows_running", "")] == 0


def test_the_admin_pages_list_workflows_and_draw_each_with_its_steps(client, admin, worker):
    record = ended(client, submit(client, CHAIN)["id"])

    listed = admin.simulate_get("/admin/workflows", params={"state": "succeeded"})
    assert listed.status_code == 200, listed.text
    assert f'href="/admin/workflows/{record["id"]}"' in listed.text
    page = admin.simulate_get(f"/admin/workflows/{record['id']}")
    assert page.status_code == 200, page.text
    # Titled as a job's page is: the id in its row, as written, not again in capitals.
    assert re.findall(r'class="panel__title">([^<]*)<', page.text) == ["Workflow", "Steps"]
    for step in record["steps"]:
        assert f'id="step-{step["step"]}" data-state="succeeded"' in page.text
        assert f'href="/admin/jobs/{step["job_id"]}"' in page.text
    # Four boxes in three columns, and an edge from each parent to its child.
    assert page.text.count("<rect ") == 4 and page.text.count("<line ") == 4
    job_page = admin.simulate_get(f"/admin/jobs/{record['steps'][0]['job_id']}")
    assert f'href="/admin/workflows/{record["id"]}"' in job_page.text
    assert_problem(admin.simulate_get("/admin/workflows/nope"), 404, "no workflow nope")
    assert_problem(admin.simulate_get("/admin/workflows", params={"state": "x"}), 400, "state")
