"""Operating the local stack as ``make up``, ``make down`` and ``make logs`` do it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.support import PROJECT_DIR, wait_for

from .conftest import stack_settings


def stack_command(run_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "services.stack", "--run-dir", str(run_dir), *args]


def stack_env() -> dict[str, str]:
    """What ``make up`` reads, on free ports, with no ADMIN_PASSWORD."""
    settings = stack_settings(workers=1, admin_password="", log_level="INFO")
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in settings.to_env() and not name.startswith("COMPOSE")
    }
    # Without Docker on PATH: the check for a compose stack is not this test's.
    env["PATH"] = str(Path(sys.executable).parent)
    return {**env, **settings.to_env()}


def test_a_second_up_says_where_the_stack_runs_and_down_stops_it(tmp_path):
    env = stack_env()
    url = f"http://localhost:{env['LB_PORT']}"
    with (tmp_path / "terminal.log").open("w") as terminal:
        first = subprocess.Popen(
            stack_command(tmp_path, "up"),
            cwd=PROJECT_DIR,
            env=env,
            stdout=terminal,
            stderr=terminal,
        )
    try:
        log = tmp_path / "stack.log"
        welcome = wait_for(
            lambda: log.exists() and "admin login" in log.read_text() and log.read_text(),
            timeout=120,
            what="the stack to start",
        )
        password = welcome.split("admin login")[1].split("/")[1].split()[0]
        assert (tmp_path / "admin-password").read_text().strip() == password
        assert (tmp_path / "admin-password").stat().st_mode & 0o777 == 0o600

        second = subprocess.run(
            stack_command(tmp_path, "up"),
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert second.returncode == 1
        assert (
            f"the stack already runs (local processes, pid {first.pid}) at {url}/" in second.stderr
        )
        assert requests.get(url + "/healthz", timeout=10).status_code == 200
        admin = requests.get(url + "/admin/", auth=("admin", password), timeout=10)
        assert admin.status_code == 200
        # One access-log line per request, naming the job.
        job_id = requests.post(url + "/jobs", json={"actor": "add", "args": [1, 2]}, timeout=10)
        job_id = job_id.json()["id"]
        wait_for(lambda: f'"job_id": "{job_id}"' in log.read_text(), what="the access log")
        # What make logs follows is what the terminal shows.
        assert log.read_text() in (tmp_path / "terminal.log").read_text()

        down = subprocess.run(
            stack_command(tmp_path, "down"), cwd=PROJECT_DIR, env=env, timeout=120
        )
        assert down.returncode == 0
        assert first.wait(timeout=60) == 0
        assert not (tmp_path / "stack.json").exists()
        assert (
            "the stack is not running"
            in subprocess.run(
                stack_command(tmp_path, "down"),
                cwd=PROJECT_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        )
    finally:
        if first.poll() is None:
            first.terminate()
            first.wait(timeout=60)


def test_make_up_installs_what_running_needs_and_no_test_tooling(tmp_path):
    recipe = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", ".venv/.synced-run"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    sync = next(line for line in recipe if " sync " in line)
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv")}

    subprocess.run(sync, shell=True, cwd=PROJECT_DIR, env=env, check=True, timeout=600)

    python = str(tmp_path / "venv" / "bin" / "python")
    runs = (
        "import services.stack.__main__, services.api.app, services.dashboard.app, services.worker"
    )
    subprocess.run([python, "-c", runs], cwd=PROJECT_DIR, check=True, timeout=60)
    for tooling in ("pytest", "playwright", "schemathesis", "ruff", "jobqueue_client"):
        missing = subprocess.run([python, "-c", f"import {tooling}"], capture_output=True)
        assert missing.returncode != 0, f"{tooling} is installed for running"
