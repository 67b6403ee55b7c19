"""The swarm tests skip only where no Docker engine answers, and never in CI."""

from __future__ import annotations

import pytest

from tests.support import outcomes_without_docker

pytestmark = pytest.mark.swarm


def test_swarm_tests_fail_rather_than_skip_in_ci(tmp_path):
    """Where no engine answers, CI=true turns the swarm tests' skip into a failure."""
    outcomes = outcomes_without_docker(tmp_path, "swarm", "tests.swarm.conftest")
    assert "1 error" in outcomes["true"] and "CI runs the swarm tests" in outcomes["true"]
    assert "1 skipped" in outcomes[""] and "the swarm tests need Docker" in outcomes[""]
