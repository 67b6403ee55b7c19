"""``python -m services.stack compose-up``: the credentials it hands to compose, and its command."""

from __future__ import annotations

import json
import shutil
import stat

import bcrypt
import pytest

from services.settings import Settings, SettingsError
from services.stack import compose
from tests.support import env_names

from .conftest import COMPOSE_FILE, compose_binary, run_compose


def test_real_compose_reads_the_credentials_literally(tmp_path, compose_home):
    password = 'pa$$word with $HOME and "quotes"'
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(COMPOSE_FILE, project / "compose.yml")
    compose.write_env_files(Settings(admin_password=password), project / ".run" / "compose")
    result = run_compose(
        [str(compose_binary())],
        "config",
        "--format",
        "json",
        home=compose_home,
        compose_file=project / "compose.yml",
        project_dir=project,
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    # compose writes a literal $ as $$ in its output.
    dashboard = {k: v.replace("$$", "$") for k, v in services["dashboard"]["environment"].items()}
    assert dashboard["ADMIN_USER"] == "admin"
    assert dashboard["ADMIN_PASSWORD"] == password
    user, _, hashed = (
        services["traefik"]["environment"]["ADMIN_HTPASSWD"].replace("$$", "$").partition(":")
    )
    assert user == "admin"
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    # Nothing else gets the credentials.
    for name in ("api", "worker", "redis"):
        assert not {"ADMIN_PASSWORD", "ADMIN_HTPASSWD"} & set(services[name].get("environment", {}))


def test_credentials_files_are_private(tmp_path):
    env_dir = tmp_path / "compose"
    compose.write_env_files(Settings(admin_password="secret"), env_dir)
    assert stat.S_IMODE(env_dir.stat().st_mode) == 0o700
    for name in compose.env_files(Settings(admin_password="secret")):
        assert stat.S_IMODE((env_dir / name).stat().st_mode) == 0o600


def test_a_password_compose_would_misread_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="ADMIN_PASSWORD"):
        compose.write_env_files(Settings(admin_password="it's"), tmp_path)


@pytest.fixture
def clean_env(monkeypatch):
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    # No stack of this checkout runs (whatever this machine's Docker runs).
    monkeypatch.setattr(compose, "already_running", lambda *args: None)
    return monkeypatch


def test_up_makes_a_password_and_scales_the_workers(clean_env, tmp_path, capsys):
    clean_env.setenv("WORKERS", "3")
    clean_env.setattr(compose, "ENV_DIR", tmp_path)
    clean_env.setattr(compose.shutil, "which", lambda name: f"/usr/bin/{name}")
    executed = []
    clean_env.setattr(compose.os, "execv", lambda path, argv: executed.append(argv))
    clean_env.setattr(compose.os, "chdir", lambda path: None)
    compose.up(tmp_path / "run")
    assert executed == [["/usr/bin/docker", "compose", "up", "--build", "--scale", "worker=3"]]
    password = (tmp_path / "dashboard.env").read_text().split("ADMIN_PASSWORD='")[1].split("'")[0]
    assert len(password) >= 20
    assert f"admin / {password}" in capsys.readouterr().out
    # Kept for the next make up, in either mode.
    assert (tmp_path / "run" / "admin-password").read_text().strip() == password


def test_up_says_where_the_stack_already_runs(clean_env, tmp_path, capsys):
    clean_env.setattr(compose, "ENV_DIR", tmp_path)
    clean_env.setattr(compose.shutil, "which", lambda name: f"/usr/bin/{name}")
    clean_env.setattr(compose, "already_running", lambda *args: "the stack already runs")
    executed = []
    clean_env.setattr(compose.os, "execv", lambda path, argv: executed.append(argv))

    assert compose.up(tmp_path / "run") == 1
    assert executed == []
    assert "the stack already runs" in capsys.readouterr().err


def test_up_keeps_a_configured_password(clean_env, tmp_path):
    clean_env.setenv("ADMIN_PASSWORD", "chosen-one")
    clean_env.setattr(compose, "ENV_DIR", tmp_path)
    clean_env.setattr(compose.shutil, "which", lambda name: f"/usr/bin/{name}")
    clean_env.setattr(compose.os, "execv", lambda path, argv: None)
    clean_env.setattr(compose.os, "chdir", lambda path: None)
    compose.up(tmp_path / "run")
    assert "ADMIN_PASSWORD='chosen-one'" in (tmp_path / "dashboard.env").read_text()


def test_up_without_docker_says_what_to_do(clean_env, tmp_path, capsys):
    clean_env.setattr(compose, "ENV_DIR", tmp_path)
    clean_env.setattr(compose.shutil, "which", lambda name: None)
    assert compose.up(tmp_path / "run") == 1
    assert "MODE=local" in capsys.readouterr().out
