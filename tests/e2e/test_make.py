"""``make help``: what a new user runs first."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.support import PROJECT_DIR

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def makefile_targets() -> set[str]:
    """Every target a user may run: the ones declared .PHONY."""
    text = (PROJECT_DIR / "Makefile").read_text()
    return {
        name
        for line in re.findall(r"^\.PHONY:(.*)$", text, flags=re.MULTILINE)
        for name in line.split()
    }


def test_make_help_lists_every_target_with_a_description():
    targets = makefile_targets()
    assert {"help", "up", "down", "test", "lint"} <= targets

    result = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    listed = {}
    for line in result.stdout.splitlines():
        if match := re.match(r"^\s+(\S+)\s+(\S.*)$", line):
            listed[match[1]] = match[2]
    assert set(listed) == targets
    assert all(description.strip() for description in listed.values())


def test_make_without_a_target_shows_the_help():
    result = subprocess.run(
        ["make", "--no-print-directory"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert "up " in result.stdout
    assert "test " in result.stdout
