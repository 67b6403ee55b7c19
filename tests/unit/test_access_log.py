"""One structured access-log line per request, with the job it concerned."""

from __future__ import annotations

import json
import logging


def access_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "jobqueue.access"]


def test_each_request_is_one_line_naming_its_job(client, caplog):
    caplog.set_level(logging.INFO, logger="jobqueue.access")

    job_id = client.simulate_post("/jobs", json={"actor": "add", "args": [1, 2]}).json["id"]
    client.simulate_get(f"/jobs/{job_id}")
    client.simulate_get("/jobs/missing")
    client.simulate_get("/")

    submitted, read, missing, hello = access_lines(caplog)
    assert (submitted["method"], submitted["route"], submitted["status"]) == ("POST", "/jobs", 202)
    assert submitted["job_id"] == read["job_id"] == job_id
    assert (read["path"], read["route"]) == (f"/jobs/{job_id}", "/jobs/{job_id}")
    assert (missing["status"], missing["job_id"]) == (404, "missing")
    assert hello["job_id"] is None and hello["ms"] >= 0
    assert {"time", "instance", "client"} <= set(hello)


def test_the_client_is_the_one_the_load_balancer_names(client, caplog):
    caplog.set_level(logging.INFO, logger="jobqueue.access")

    client.simulate_get("/", headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.2"})
    client.simulate_get("/")

    forwarded, direct = access_lines(caplog)
    # The first address the balancer forwards is the client's; without one, the peer's.
    assert forwarded["client"] == "203.0.113.7"
    assert direct["client"] not in ("203.0.113.7", None)


def test_a_passing_health_check_is_logged_at_debug_only(client, caplog):
    caplog.set_level(logging.INFO, logger="jobqueue.access")

    client.simulate_get("/healthz")
    client.simulate_get("/readyz")
    client.simulate_get("/")

    # The load balancer's checks, several a second, do not bury the requests.
    assert [line["route"] for line in access_lines(caplog)] == ["/"]
    caplog.set_level(logging.DEBUG, logger="jobqueue.access")
    client.simulate_get("/healthz")
    assert access_lines(caplog)[-1]["route"] == "/healthz"
