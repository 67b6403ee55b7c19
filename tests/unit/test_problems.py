"""Problem documents name the problem in one way: titles without codes, details without pydantic."""

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
