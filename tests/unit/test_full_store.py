"""A full job store (Redis at its maxmemory, refusing writes) is a 503 naming the cause."""

from __future__ import annotations

import contextlib

import pytest
import redis

from tests.support import assert_problem, submit


@contextlib.contextmanager
def full(redis_url: str):
    client = redis.Redis.from_url(redis_url)
    client.config_set("maxmemory", 1)
    try:
        yield
    finally:
        client.config_set("maxmemory", 0)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/jobs", {"actor": "add", "args": [1, 2]}),
        ("POST", "/jobs/batch", {"jobs": [{"actor": "add", "args": [1, 2]}]}),
        ("GET", "/template", None),
    ],
)
def test_a_write_to_a_full_store_is_a_503_naming_the_cause(client, clean_redis, method, path, body):
    with full(clean_redis):
        refused = client.simulate_request(method, path, json=body)

    problem = assert_problem(refused, 503, "the job store is full", "maxmemory")
    assert int(refused.headers["Retry-After"]) > 0
    assert "unexpected" not in problem["detail"]
    assert client.simulate_get("/jobs").json["jobs"] == []


def test_readiness_fails_while_the_store_refuses_writes(client, clean_redis):
    assert client.simulate_get("/readyz").status_code == 200

    with full(clean_redis):
        not_ready = client.simulate_get("/readyz")

    assert_problem(not_ready, 503, "the job store is full")
    assert client.simulate_get("/readyz").status_code == 200


def test_reads_of_a_full_store_still_answer(client, clean_redis):
    job_id = submit(client).json["id"]

    with full(clean_redis):
        read = client.simulate_get(f"/jobs/{job_id}")

    assert read.status_code == 200
    assert read.json["state"] == "queued"
