"""The swarm tests skip only where no Docker engine answers, and never in CI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import PROJECT_DIR

pytestmark = pytest.mark.swarm


def test_swarm_tests_fail_rather_than_skip_in_ci(tmp_path):
    """Where no engine answers, CI=true turns the swarm tests' skip into a failure."""
    test = tmp_path / "test_needs_a_swarm.py"
    test.write_text("def test_needs_a_swarm(swarm):\n    pass\n")
    (tmp_path / "conftest.py").write_text("from tests.swarm.conftest import swarm\n")
    outcomes = {}
    for ci in ("true", ""):
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test)],
            cwd=tmp_path,
            env={"PATH": "/nonexistent", "CI": ci, "PYTHONPATH": str(PROJECT_DIR)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        outcomes[ci] = result.stdout
    assert "1 error" in outcomes["true"] and "CI runs the swarm tests" in outcomes["true"]
    assert "1 skipped" in outcomes[""] and "the swarm tests need Docker" in outcomes[""]
