"""compose.yml passes the official compose binary's validation and the compose-spec schema.

Each validator also gets a broken copy that it must reject, so that neither
check can pass by not looking.
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import PROJECT_DIR, free_ports, wait_for

from .conftest import COMPOSE_FILE, run_compose


def check_jsonschema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = COMPOSE_FILE.read_text()
    assert text.count(old) == 1, f"{old!r} is not in compose.yml exactly once"
    path = tmp_path / "compose.yml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    "env_file", [".env.example", "/dev/null"], ids=["with-env-example", "defaults"]
)
def test_compose_config_is_valid(compose_cli, compose_home, env_file):
    result = run_compose(compose_cli, "config", "--quiet", home=compose_home, env_file=env_file)
    assert result.returncode == 0, result.stderr


def test_compose_config_rejects_a_dependency_on_an_undefined_service(
    compose_cli, compose_home, tmp_path
):
    broken = broken_copy(
        tmp_path,
        "    depends_on:\n      api:\n",
        "    depends_on:\n      cache:\n        condition: service_started\n      api:\n",
    )
    result = run_compose(compose_cli, "config", "--quiet", home=compose_home, compose_file=broken)
    assert result.returncode != 0
    assert 'undefined service "cache"' in result.stderr


def test_compose_file_matches_the_compose_spec_schema():
    result = check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_an_unknown_service_key(tmp_path):
    broken = broken_copy(tmp_path, "    stop_grace_period: 615s\n", "    stop_grace_time: 615s\n")
    result = check_jsonschema(broken)
    assert result.returncode != 0
    assert "stop_grace_time" in result.stdout + result.stderr


def test_no_compose_override_file_changes_what_is_validated():
    # compose merges these silently into every command: the checks above
    # would validate one thing and `docker compose up` run another.
    for name in ("compose.override.yml", "compose.override.yaml"):
        assert not (PROJECT_DIR / name).exists(), f"{name} would change what compose runs"


def test_traefik_accepts_every_flag_compose_gives_it(resolved_compose, tmp_path):
    """The real Traefik, the version compose runs, started with compose's command line.

    Traefik rejects an unknown or misspelt option and exits; with these it
    serves /ping. Only the addresses change, each entry point's to a free port
    on loopback.
    """
    traefik = Path(sys.executable).parent / "traefik"
    if not traefik.exists():
        pytest.skip("no traefik binary (the `local` dependency group) here")
    command = resolved_compose["services"]["traefik"]["command"]
    addresses = [
        flag for flag in command if re.fullmatch(r"--entryPoints\.[\w-]+\.address=.*", flag)
    ]
    ports = dict(zip(addresses, free_ports(len(addresses)), strict=True))
    flags = []
    for flag in command:
        if flag in ports:
            flag = f"{flag.partition('=')[0]}=127.0.0.1:{ports[flag]}"
        elif flag.startswith("--providers.file.directory="):
            flag = f"--providers.file.directory={PROJECT_DIR / 'traefik' / 'dynamic'}"
        flags.append(flag)
    ping_port = ports[next(flag for flag in ports if flag.startswith("--entryPoints.ping."))]
    log = tmp_path / "traefik.log"
    with log.open("w") as output:
        # cwd: a traefik.yml there would be loaded instead of the flags.
        process = subprocess.Popen(
            [str(traefik), *flags], cwd=tmp_path, stdout=output, stderr=output
        )
    try:
        wait_for(
            lambda: process.poll() is not None or _answers(f"http://127.0.0.1:{ping_port}/ping"),
            timeout=20,
            what="Traefik's /ping",
        )
        assert process.poll() is None, log.read_text()
    finally:
        process.terminate()
        process.wait(10)
    assert "field not found" not in log.read_text()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_one_service_builds_the_image_that_the_others_run(resolved_compose):
    """Each build writes an image of its own: with three services building
    jobqueue:local, the tag ended on one, and the next ``up --scale`` recreated
    the containers made from the others."""
    services = resolved_compose["services"]
    (builder,) = [name for name, service in services.items() if "build" in service]
    image = services[builder]["image"]
    users = [name for name, service in services.items() if service["image"] == image]
    assert set(users) == {"api", "worker", "dashboard"}
    for name in users:
        if name != builder:
            assert services[name]["pull_policy"] == "never", f"{name} would pull {image}"


def test_traefik_routes_to_its_own_project_only(resolved_compose):
    """Traefik's Docker provider sees every container on the engine: another
    compose project declares the same routers, on a network this Traefik cannot reach."""
    constraints = [
        flag.partition("=")[2]
        for flag in resolved_compose["services"]["traefik"]["command"]
        if flag.startswith("--providers.docker.constraints=")
    ]
    project = resolved_compose["name"]
    assert constraints == [f"Label(`com.docker.compose.project`,`{project}`)"]
