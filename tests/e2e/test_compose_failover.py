"""compose.yml's ha profile: Redis with a replica and three sentinels, failing over on Docker."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from services.stack.compose import COMPOSE_SENTINELS
from tests.support import wait_for

from .compose_project import ComposeProject, ComposeStack, compose_variables, engine_problem


@pytest.fixture
def ha_stack(tmp_path) -> Iterator[ComposeStack]:
    problem = engine_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}: CI runs the compose tests (.ci/run installs Docker)")
        pytest.skip(f"{problem}: the compose tests need Docker (see the README)")
    project = ComposeProject(
        tmp_path, compose_variables(COMPOSE_PROFILES="ha", REDIS_SENTINELS=COMPOSE_SENTINELS)
    )
    try:
        project.up()
        yield ComposeStack(project)
    finally:
        project.down()


def sentinel(project: ComposeProject, command: str) -> list[str]:
    """A sentinel's reply to ``command``, one line a value."""
    return project.run(
        "exec", "-T", "sentinel-1", "redis-cli", "-p", "26379", *command.split()
    ).split()


def role(project: ComposeProject) -> str | None:
    """The redis container's replication role; None while it does not answer."""
    try:
        return project.redis("ROLE")[0]
    except (AssertionError, IndexError):
        return None


def test_killing_the_master_container_fails_over_and_loses_no_job(ha_stack):
    project = ha_stack.project
    before = [ha_stack.submit("add", kwargs={"a": n, "b": 1}) for n in range(20)]

    project.run("kill", "redis")
    wait_for(
        lambda: (
            sentinel(project, "SENTINEL GET-MASTER-ADDR-BY-NAME jobqueue")[:1] == ["redis-replica"]
        ),
        timeout=60,
        interval=0.5,
        what="the sentinels to promote the replica",
    )
    # The profile has one replica: the new master has none to confirm writes
    # with until the old one is back, as its replica.
    assert not ha_stack.accepts()
    project.run("start", "redis")
    wait_for(lambda: role(project) == "slave", timeout=90, interval=1, what="redis to replicate")
    wait_for(ha_stack.accepts, timeout=30, interval=0.2, what="a submission accepted")
    after = [ha_stack.submit("add", kwargs={"a": n, "b": 2}) for n in range(20)]

    records = [ha_stack.ended(job_id, timeout=120) for job_id in before + after]
    assert [record["result"] for record in records] == [
        *(n + 1 for n in range(20)),
        *(n + 2 for n in range(20)),
    ]
    assert all(record["attempts"] == 1 for record in records)
