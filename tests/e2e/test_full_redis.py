"""A full job store, end to end: 503s rather than 500s, and afterwards every job ended once."""

from __future__ import annotations

import time

import pytest
import redis

from ..support import assert_problem, wait_for
from .conftest import RunningStack, stack_settings, start_stack

#: Longer than the stack's heartbeat timeout: no worker may be presumed dead for it.
FULL_SECONDS = 4


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> RunningStack:
    settings = stack_settings(heartbeat_timeout_ms=3000)
    running = start_stack(tmp_path_factory.mktemp("full-redis"), settings)
    try:
        yield running
    finally:
        running.stack.stop()


def test_a_full_redis_answers_503_and_strands_no_job(small):
    store = redis.Redis(port=small.settings.redis_port)
    slow = [small.submit("count_slowly", kwargs={"to": 16, "interval": 0.25}) for _ in range(6)]
    quick = [small.submit("add", args=[n, 1]) for n in range(30)]
    wait_for(
        lambda: small.get("/jobs", params={"state": "running"}).json()["jobs"],
        what="jobs running",
    )

    store.config_set("maxmemory", 1)
    try:
        refused = []
        deadline = time.monotonic() + FULL_SECONDS
        while time.monotonic() < deadline:
            refused.append(small.post("/jobs", json={"actor": "add", "args": [1, 2]}))
            time.sleep(0.1)
        not_ready = small.get("/readyz")
    finally:
        store.config_set("maxmemory", 0)

    assert {response.status_code for response in refused} == {503}
    assert_problem(refused[-1], 503, "full")
    assert int(refused[-1].headers["Retry-After"]) >= 1
    assert not_ready.status_code == 503
    records = [small.ended(job_id) for job_id in slow + quick]
    # Every job ended once: none ran twice, none is left running.
    assert {record["state"] for record in records} == {"succeeded"}
    assert {record["attempts"] for record in records} == {1}
    assert small.get("/jobs", params={"state": "running"}).json()["jobs"] == []
    assert small.post("/jobs", json={"actor": "add", "args": [1, 2]}).status_code == 202
