"""The scripts get their shared functions by ``--!include`` lines, each file once.

Every script, its includes written in, must define each shared function it
calls, once, and compile in a real Redis (``SCRIPT LOAD``): a missing
include fails here rather than in the worker that first runs the script.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis

from actors.storage.lua import INCLUDE, LUA_DIR, source
from tests.support import PROJECT_DIR

DEFINED = re.compile(r"^local function (\w+)", re.MULTILINE)
SCRIPTS = sorted(
    path
    for path in PROJECT_DIR.glob("**/lua/*.lua")
    if ".venv" not in path.parts and "tests" not in path.parts
)


def test_an_include_is_written_in_once_where_first_named(tmp_path, monkeypatch):
    monkeypatch.setattr("actors.storage.lua.LUA_DIR", tmp_path)
    (tmp_path / "a.lua").write_text("--!include b.lua\nlocal a = 1\n")
    (tmp_path / "b.lua").write_text("--!include a.lua\nlocal b = 2\n")
    (tmp_path / "c.lua").write_text("--!include a.lua\n--!include b.lua\nreturn a + b\n")
    assert source("c.lua") == (
        "-- a.lua: included above\nlocal b = 2\n\nlocal a = 1\n\n"
        "-- b.lua: included above\nreturn a + b\n"
    )


def test_every_script_names_files_that_exist():
    for path in SCRIPTS:
        for name in INCLUDE.findall(path.read_text()):
            assert (LUA_DIR / name).is_file(), f"{path.name} includes {name}, not in {LUA_DIR}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: str(path.relative_to(PROJECT_DIR)))
def test_every_script_compiles_with_each_function_defined_once(redis_url, path: Path):
    script = source(path)
    assert not INCLUDE.search(script)
    defined = DEFINED.findall(script)
    assert len(defined) == len(set(defined)), f"{path.name} defines one twice: {defined}"
    shared = {name for lua in LUA_DIR.glob("*.lua") for name in DEFINED.findall(lua.read_text())}
    called = shared & set(re.findall(r"\b(\w+)\(", script))
    assert called <= set(defined), f"{path.name} calls {called - set(defined)}, not included"
    redis.Redis.from_url(redis_url).script_load(script)
