"""With API_KEYS set, changing jobs needs a key; reads too only with API_KEYS_FOR_READS."""

from __future__ import annotations

import dataclasses

import pytest
from falcon import testing

from services.api.app import create_app

from ..support import assert_problem, submit

KEY = "s3cret-key"
ADD = {"actor": "add", "args": [1, 2]}


def client_with(settings, queue, **changes) -> testing.TestClient:
    return testing.TestClient(create_app(dataclasses.replace(settings, **changes), queue))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def guarded(settings, queue) -> testing.TestClient:
    return client_with(settings, queue, api_keys=("other-key", KEY))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong"),
        bearer(KEY[:-1]),
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": KEY},
    ],
    ids=["none", "wrong", "prefix", "basic", "no-scheme"],
)
def test_changing_jobs_without_a_valid_key_is_401_with_a_challenge(guarded, headers):
    job_id = submit(guarded, headers=bearer(KEY)).json["id"]
    attempts = [
        guarded.simulate_post("/jobs", json=ADD, headers=headers),
        guarded.simulate_post("/jobs/batch", json={"jobs": [ADD]}, headers=headers),
        guarded.simulate_delete(f"/jobs/{job_id}", headers=headers),
        guarded.simulate_post(f"/jobs/{job_id}/retry", headers=headers),
        guarded.simulate_get("/template", headers=headers),
    ]

    for refused in attempts:
        assert_problem(refused, 401, "API key")
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="jobs"'
    assert guarded.simulate_get(f"/jobs/{job_id}").json["state"] == "queued"


def test_any_of_the_keys_lets_a_client_change_jobs(guarded):
    for key in (KEY, "other-key"):
        accepted = guarded.simulate_post(
            "/jobs", json=ADD, headers={"Authorization": f"bearer {key}"}
        )
        assert accepted.status_code == 202, accepted.text
    job_id = accepted.json["id"]
    assert guarded.simulate_delete(f"/jobs/{job_id}", headers=bearer(KEY)).status_code == 200


def test_reads_stay_open_unless_the_setting_says_otherwise(settings, queue, guarded):
    job_id = submit(guarded, headers=bearer(KEY)).json["id"]
    assert guarded.simulate_get(f"/jobs/{job_id}").status_code == 200
    assert guarded.simulate_get("/actors").status_code == 200

    strict = client_with(settings, queue, api_keys=(KEY,), api_keys_for_reads=True)
    assert_problem(strict.simulate_get(f"/jobs/{job_id}"), 401, "API key")
    assert_problem(strict.simulate_get("/openapi.json"), 401, "API key")
    assert strict.simulate_get(f"/jobs/{job_id}", headers=bearer(KEY)).status_code == 200
    # The load balancer's health checks carry no key.
    assert strict.simulate_get("/healthz").status_code == 200
    assert strict.simulate_get("/readyz").status_code == 200


def test_no_keys_no_check(client):
    assert client.simulate_post("/jobs", json=ADD).status_code == 202


def test_the_contract_marks_the_operations_that_need_a_key(guarded, client):
    document = guarded.simulate_get("/openapi.json").json
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    guarded_operations = {
        (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security") == [{"apiKey": []}] and "401" in operation["responses"]
    }
    assert guarded_operations == {
        ("/jobs", "post"),
        ("/jobs/batch", "post"),
        ("/jobs/{job_id}", "delete"),
        ("/jobs/{job_id}/retry", "post"),
        ("/template", "get"),
        ("/schedules", "post"),
        ("/schedules/{name}", "put"),
        ("/schedules/{name}", "delete"),
        ("/schedules/{name}/pause", "post"),
        ("/schedules/{name}/resume", "post"),
        ("/schedules/{name}/run", "post"),
        ("/workflows", "post"),
        ("/workflows/{workflow_id}", "delete"),
        ("/workflows/{workflow_id}/retry", "post"),
    }
    assert "securitySchemes" not in client.simulate_get("/openapi.json").json["components"]
