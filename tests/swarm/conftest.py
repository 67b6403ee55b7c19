"""One swarm for the module's tests: set up once, torn down after, its cost reported."""

from __future__ import annotations

import os
import time

import pytest

from .cluster import Swarm, SwarmStack, engine_problem, missing_images, swarm_variables

#: What the tests measured (the swarm's own cost included), for the terminal summary.
MEASURED: dict[str, str] = {}


@pytest.fixture(scope="module")
def swarm(tmp_path_factory) -> SwarmStack:
    """deploy/swarm/stack.yml on three nodes of Docker-in-Docker, for the module, then removed.

    Skipped where no engine runs, but failed in CI, which must run it.
    """
    problem = engine_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}: CI runs the swarm tests (.ci/run installs Docker)")
        pytest.skip(f"{problem}: the swarm tests need Docker (see the README)")
    missing = missing_images()
    assert not missing, f"the swarm needs these images: {', '.join(missing)}"
    cluster = Swarm(swarm_variables())
    start = time.monotonic()
    try:
        cluster.start(tmp_path_factory.mktemp("swarm"))
        stack = SwarmStack(cluster)
        stack.wait_until_balanced()
        MEASURED["set up"] = f"{time.monotonic() - start:.0f} s"
        yield stack
    finally:
        start = time.monotonic()
        cluster.remove()
        MEASURED["torn down"] = f"{time.monotonic() - start:.0f} s"


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.write_line(
            "swarm: " + ", ".join(f"{what}: {value}" for what, value in MEASURED.items())
        )
