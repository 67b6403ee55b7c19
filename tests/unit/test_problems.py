"""The contract's edges: problem documents name the problem one way (titles without codes,
details without pydantic), HEAD is answered wherever GET is, /actors shows what applies."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "title"),
    [
        ("GET", "/jobs/missing", None, 404, "Not Found"),
        ("GET", "/nowhere", None, 404, "Not Found"),
        ("DELETE", "/", None, 405, "Method Not Allowed"),
        ("POST", "/jobs", {"actor": "nope"}, 422, "Unprocessable Content"),
        ("GET", "/jobs?limit=0", None, 400, "Invalid parameter"),
    ],
)
def test_every_title_is_the_problems_name_alone(client, method, path, body, status, title):
    path, _, query = path.partition("?")
    result = client.simulate_request(method, path, query_string=query, json=body)

    assert result.status_code == status
    assert result.headers["content-type"] == "application/problem+json"
    assert (result.json["status"], result.json["title"]) == (status, title)


@pytest.mark.parametrize("time_limit", ["60", -1, [1]])
def test_a_detail_names_the_field_not_the_libraries_types(client, time_limit):
    body = {"actor": "add", "args": [1, 2], "options": {"time_limit": time_limit}}

    result = client.simulate_post("/jobs", json=body)

    assert result.status_code == 422
    detail = result.json["detail"]
    assert detail.startswith("options/time_limit: ")
    assert "constrained" not in detail and "[" not in detail.partition(": ")[0]


@pytest.mark.parametrize("path", ["/", "/healthz", "/actors", "/jobs", "/openapi.json"])
def test_head_is_answered_where_get_is(client, path):
    got = client.simulate_get(path)

    head = client.simulate_head(path)

    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]


def test_head_of_a_job_says_whether_it_exists(client):
    job_id = client.simulate_post("/jobs", json={"actor": "add", "args": [1, 2]}).json["id"]

    assert client.simulate_head(f"/jobs/{job_id}").status_code == 200
    assert client.simulate_head("/jobs/missing").status_code == 404


def test_the_actors_show_the_retries_and_time_limit_that_apply(client, settings):
    actors = {actor["name"]: actor for actor in client.simulate_get("/actors").json["actors"]}

    # add declares neither; count_slowly declares max_retries=0.
    assert actors["add"]["max_retries"] == settings.default_max_retries
    assert actors["add"]["time_limit"] == settings.default_time_limit_ms / 1000
    assert actors["count_slowly"]["max_retries"] == 0
