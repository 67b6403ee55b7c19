"""Only ``actors/storage/`` spells where things live in Redis, and what a script's slots hold.

Everything else asks :class:`~actors.storage.Keys` (``keys.job(job_id)``,
``keys.dead_letters(queue)``), and hands a script's codec
(``actors/storage/codecs.py``) typed values: a key moved, a new one, or a
script's new argument is then a change in one place. The API, the dashboard
and the metrics read through the stores and the read models
(``actors/storage/queues.py``, ``events.py``), calling no Redis command
themselves. Python is read with ``ast``: string constants, the pieces of
f-strings included, but not docstrings or comments that describe a key; the
lists a script is given; the methods called.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dramatiq.common import dq_name, xq_name
from redis.commands import core

from actors.storage import Keys
from actors.storage.lua import LUA_DIR
from tests.support import PROJECT_DIR

#: The storage owner, the only package allowed to spell keys.
OWNER = PROJECT_DIR / "actors" / "storage"
_NAMESPACE, _NAME = "N-S", "I-D"


def key_fragments() -> set[str]:
    """The literal parts of every key the layout makes: ``:job:``, ``.msgs``, ``__acks__.``..."""
    keys = Keys(_NAMESPACE, broker_namespace=_NAMESPACE)
    made = []
    for name, member in inspect.getmembers(Keys):
        if name.startswith("_") or name == "job_id":
            continue
        if isinstance(member, property):
            made.append(getattr(keys, name))
        elif inspect.isfunction(member):
            arity = len(inspect.signature(member).parameters) - 1
            made.append(getattr(keys, name)(*[_NAME] * arity))
    # dramatiq names a queue's delay and dead-letter queues (dq_name, xq_name):
    # code that handles messages tells them by name.
    queue_names = {dq_name(""), xq_name("")}
    fragments = set()
    for key in made:
        for part in key.replace(_NAMESPACE, "\0").replace(_NAME, "\0").split("\0"):
            # A lone separator is no key's own: "a:b" and "a.b" are everywhere.
            if sum(c.isalpha() for c in part) >= 2 and part not in queue_names:
                fragments.add(part)
    return fragments


FRAGMENTS = key_fragments()


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of the nodes that are docstrings."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def spelled_keys(source: str) -> Iterator[tuple[int, str]]:
    """``(line, string)`` of each string constant in ``source`` that spells part of a key."""
    tree = ast.parse(source)
    skip = docstrings(tree)
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) and id(node) not in skip else None
        if isinstance(text, str) and any(fragment in text for fragment in FRAGMENTS):
            yield node.lineno, text


#: The names a script's KEYS and ARGV go by when they are built.
SCRIPT_SLOTS = re.compile(r"^(keys|args|\w+_keys|\w+_args)$")


def spelled_slots(source: str) -> Iterator[tuple[int, str]]:
    """``(line, name)`` of each list of a script's arguments written out in ``source``.

    A list display given as ``keys=`` or ``args=``, or bound to a name such as
    ``args`` or ``fetch_args``, puts values in slots by their position.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in {"keys", "args"} and isinstance(keyword.value, ast.List):
                    yield keyword.value.lineno, f"{keyword.arg}="
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        value = getattr(node, "value", None)
        for target in targets:
            if (
                isinstance(target, ast.Name)
                and SCRIPT_SLOTS.match(target.id)
                and isinstance(value, ast.List)
            ):
                yield node.lineno, target.id


def each(paths: list[Path]) -> pytest.MarkDecorator:
    """Run a test once for each of ``paths`` (as ``path``), named by its place in the project."""
    return pytest.mark.parametrize(
        "path", paths, ids=lambda path: str(path.relative_to(PROJECT_DIR))
    )


def assert_none(finder: Callable[[str], Iterator[tuple[int, str]]], path: Path, says: str) -> None:
    """Fail if ``finder`` finds anything in ``path``, naming it, what was found, and ``says``.

    ``says`` has a ``{}`` for what was found.
    """
    found = list(finder(path.read_text()))
    assert found == [], f"{path.relative_to(PROJECT_DIR)} {says.format(found)}"


def modules(*folders: str, outside: Path) -> list[Path]:
    """The project's Python modules in ``folders``, but for those in ``outside``."""
    paths = (path for folder in folders for path in (PROJECT_DIR / folder).rglob("*.py"))
    return sorted(path for path in paths if outside not in path.parents)


#: Every module but the storage owner's.
MODULES = modules("actors", "services", outside=OWNER)


def test_the_layout_has_the_fragments_a_key_is_told_by():
    assert {":job:", ":events", ".msgs", ".wake", ":__heartbeats__", ":schedules:due"} <= FRAGMENTS


def test_the_check_finds_a_spelled_key_and_nothing_else():
    source = '''
"""Reads <ns>:job:<id>, which a docstring may name."""
def depth(client, namespace, queue, job_id):
    """The length of <ns>:<queue>.msgs."""
    client.hgetall(f"{namespace}:job:{job_id}")  # "x:jobs" in a comment is fine
    client.hlen(namespace + ":" + queue + ".msgs")
    return f"{queue}: {job_id}", "a.b", "job"
'''
    assert sorted(spelled_keys(source)) == [(5, ":job:"), (6, ".msgs")]


@each(MODULES)
def test_no_module_spells_a_redis_key(path):
    assert_none(spelled_keys, path, "spells {}: ask actors.storage.Keys")


def test_the_check_finds_a_script_argument_list_and_nothing_else():
    source = """
script(keys=[job_key, events_key], args=call.args)
fetch_args: list = [count]
args += [message_id, attempt]
threading.Thread(target=run, args=(broker,))
steps = [first, second]
"""
    assert sorted(spelled_slots(source)) == [(2, "keys="), (3, "fetch_args"), (4, "args")]


@each(MODULES)
def test_no_module_lays_out_a_scripts_arguments(path):
    assert_none(spelled_slots, path, "lays out script arguments {}: ask actors.storage.codecs")


def redis_commands() -> frozenset[str]:
    """redis-py's methods for the commands that read or write keys, by name.

    Names that Python's own containers, paths and events also have (``get``,
    ``set``, ``keys``, ``rename``...) or that the service's own stores use
    (``delete``) say nothing by themselves, and are left out; so is loading a
    script, whose arguments its codec lays out (``register_script``).
    """
    families = [
        core.BasicKeyCommands,
        core.HashCommands,
        core.ListCommands,
        core.ScanCommands,
        core.ScriptCommands,
        core.SetCommands,
        core.SortedSetCommands,
        core.StreamCommands,
    ]
    ordinary = {"delete", "register_script"}
    for kind in (dict, list, set, str, bytes, Path, asyncio.Event):
        ordinary.update(dir(kind))
    return frozenset(
        name
        for family in families
        for name in vars(family)
        if not name.startswith("_") and name not in ordinary
    )


REDIS_COMMANDS = redis_commands()


def called_commands(source: str) -> Iterator[tuple[int, str]]:
    """``(line, name)`` of each call in ``source`` of a method named as a Redis command."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in REDIS_COMMANDS
        ):
            yield node.lineno, node.func.attr


#: The API's, the dashboard's and the metrics' modules: readers of what the stores keep.
READERS = modules("services", outside=PROJECT_DIR / "services" / "stack")


def test_the_check_finds_a_redis_command_and_nothing_else():
    source = """
reply = await self.store.client.xread({key: since}, count=100)
pipe.hgetall(key)
events = await self.store.events(job_id, after=since)
self._news_came.set()
record = await queue.store.get(job_id)
"""
    assert sorted(called_commands(source)) == [(2, "xread"), (3, "hgetall")]


@each(READERS)
def test_no_reader_calls_a_redis_command(path):
    assert_none(
        called_commands,
        path,
        "calls Redis itself {}: read through a store or a read model of actors.storage "
        "(events.py, queues.py)",
    )


#: Every Lua script, the service's and the dashboard's.
LUA_SCRIPTS = sorted(
    path
    for path in PROJECT_DIR.glob("**/lua/*.lua")
    if ".venv" not in path.parts and "tests" not in path.parts
)


def lua_fragments() -> set[str]:
    """The layout's fragments, and the fixed parts ``lua/keys.lua`` builds its keys with."""
    # Each builder of a key returns what it is given joined to its fixed part.
    builders = re.findall(
        r'local function (?:\w+_key|events_of)\(.*\n\s*return \w+ \.\. "([^"]*)"',
        (LUA_DIR / "keys.lua").read_text(),
    )
    return FRAGMENTS | {part for part in builders if sum(c.isalpha() for c in part) >= 2}


def lua_spelled_keys(source: str) -> Iterator[tuple[int, str]]:
    """``(line, string)`` of each string in Lua ``source``, comments aside, that spells a key."""
    fragments = lua_fragments()
    for number, line in enumerate(source.splitlines(), 1):
        code = line.split("--", 1)[0]
        for text in re.findall(r'"([^"]*)"', code):
            if any(fragment in text for fragment in fragments):
                yield number, text


def test_the_lua_check_finds_a_spelled_key_and_nothing_else():
    source = """
-- "<namespace>:__acks__.<worker>" in a comment is fine
local acks = namespace .. ":__acks__." .. worker_id
redis.call("HDEL", wf .. ":waiting", step)
local queue = namespace .. ":" .. queue_name .. ".DQ"
redis.call("HSET", job_key, "state", "queued")
"""
    assert sorted(lua_spelled_keys(source)) == [(3, ":__acks__."), (4, ":waiting")]


@each([path for path in LUA_SCRIPTS if path != LUA_DIR / "keys.lua"])
def test_no_script_but_keys_lua_spells_a_redis_key(path):
    assert_none(lua_spelled_keys, path, "spells {}: build it with keys.lua")
