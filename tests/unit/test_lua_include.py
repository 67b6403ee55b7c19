"""The scripts get their shared functions by ``--!include`` lines, each file once.

Every script, its includes written in, must define each shared function it
calls, once, and compile in a real Redis (``SCRIPT LOAD``): a missing
include fails here rather than in the worker that first runs the script.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis

from actors import lifecycle
from actors.record import Progress
from actors.states import PENDING_STATES, TERMINAL_STATES
from actors.storage import Keys
from actors.storage.codecs import JobWrites
from actors.storage.events import position
from actors.storage.lua import INCLUDE, LUA_DIR, source
from tests.support import PROJECT_DIR

#: A shared function.
DEFINED = re.compile(r"^local function (\w+)\(", re.MULTILINE)
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


def test_a_script_gets_only_the_functions_of_its_includes_that_it_names(tmp_path, monkeypatch):
    monkeypatch.setattr("actors.storage.lua.LUA_DIR", tmp_path)
    (tmp_path / "a.lua").write_text(
        "local function helper(x)\n    return x\nend\n"
        "local function used(x)\n    return helper(x)\nend\n"
        "local function only_for_unused(x)\n    return x\nend\n"
        "local function unused(x)\n    return only_for_unused(x)\nend\n"
    )
    (tmp_path / "b.lua").write_text("--!include a.lua\nlocal function own()\nend\nreturn used(1)\n")
    script = source("b.lua")
    assert DEFINED.findall(script) == ["helper", "used", "own"]


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
    # A parameter named as a function the script has hides it in its function.
    parameters = re.findall(r"function\s*\w*\(([^)]*)\)", script)
    named = {name.strip() for names in parameters for name in names.split(",")}
    assert not set(defined) & named, f"{path.name} hides {set(defined) & named} behind one"
    redis.Redis.from_url(redis_url).script_load(script)


def test_the_scripts_build_keys_as_the_layout_has_them(redis_url):
    keys = Keys("N-S", broker_namespace="B-N")
    job = keys.job("I-D")
    script = (
        source("keys.lua")
        + """
return {
    events_of(KEYS[1]), jobs_prefix(KEYS[1]), lingering_key(store_namespace(KEYS[1])),
    stats_key(store_namespace(KEYS[1]), "60"), workflow_key(store_namespace(KEYS[1]), "W-F"),
    queue_key_of(ARGV[1], "Q-N"), messages_key(KEYS[2]), wake_key(KEYS[2]),
    dead_letters_key(ARGV[1], "Q-N"), heartbeats_key(ARGV[1]), acks_key(ARGV[1], "W-K", "Q-N"),
    worker_names_key(ARGV[1]), queue_key_of(ARGV[1], delay_queue_name("Q-N")),
    canonical_queue_name(delay_queue_name("Q-N")), canonical_queue_name("Q-N"),
    workflow_steps_key(workflow_key(store_namespace(KEYS[1]), "W-F")),
    workflow_outcomes_key(workflow_key(store_namespace(KEYS[1]), "W-F")),
    events_of(workflow_key(store_namespace(KEYS[1]), "W-F")),
    fetched_key(ARGV[1], "W-K", "Q-N"),
}
"""
    )
    built = redis.Redis.from_url(redis_url, decode_responses=True).eval(
        script, 2, job, keys.queue("Q-N"), keys.broker_namespace
    )
    assert built == [
        keys.events(job.removeprefix(keys.jobs_prefix)),
        keys.jobs_prefix,
        keys.lingering,
        keys.stats(60),
        keys.workflow("W-F"),
        keys.queue("Q-N"),
        keys.messages("Q-N"),
        keys.wake("Q-N"),
        keys.dead_letters("Q-N"),
        keys.heartbeats,
        keys.acks("W-K", "Q-N"),
        keys.worker_names,
        keys.delayed("Q-N"),
        "Q-N",
        "Q-N",
        keys.workflow_steps("W-F"),
        keys.workflow_outcomes("W-F"),
        keys.workflow_events("W-F"),
        keys.fetched("W-K", "Q-N"),
    ]


def test_the_scripts_know_the_states_that_rest_and_end_as_the_table_has_them(redis_url):
    script = source("states.lua") + "\nreturn {cjson.encode(RESTING), cjson.encode(ENDED)}"
    resting, ended = redis.Redis.from_url(redis_url, decode_responses=True).eval(script, 0)
    assert set(json.loads(resting)) == PENDING_STATES | TERMINAL_STATES
    assert set(json.loads(ended)) == TERMINAL_STATES


def test_the_scripts_order_event_ids_as_redis_does(redis_url):
    # By time, then sequence, as numbers; a client may write them with zeros in front.
    ids = [
        "0-0",
        "0-1",
        "00-02",
        "1-0",
        "9-9",
        "10-0",
        "1796663984490-0",
        "1796663984490-9",
        "1796663984490-10",
        "0001796663984490-11",
        "1796663984491-0",
        "18446744073709551615-3",
    ]
    pairs = [(a, b) for a in ids for b in ids]
    script = source("event.lua") + (
        "\nlocal later_ones, after = {}, {}"
        "\nfor k = 1, #ARGV, 2 do"
        "\n    later_ones[#later_ones + 1] = later(ARGV[k], ARGV[k + 1]) and 1 or 0"
        "\n    after[#after + 1] = id_after(ARGV[k])"
        "\nend"
        "\nreturn {later_ones, after}"
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    later_ones, after = client.eval(script, 0, *(part for pair in pairs for part in pair))
    assert later_ones == [int(position(a) > position(b)) for a, b in pairs]
    assert [position(next_id) for next_id in after] == [
        (position(a)[0], position(a)[1] + 1) for a, _ in pairs
    ]


@pytest.mark.parametrize(
    "transition",
    [
        lifecycle.start(2, worker_name='w"1'),
        lifecycle.finish(
            result={"html": "<p>é</p>"}, exception=None, retried=False, permanent=False, attempt=2
        ),
        lifecycle.finish(result=None, exception=ValueError("x"), retried=True, permanent=False),
        lifecycle.finish(
            exception=RuntimeError("no"),
            retried=False,
            permanent=True,
            progress=Progress(value=0.5, message="half"),
        ),
        lifecycle.report_progress(0.25, "a quarter", attempt=1),
        lifecycle.cancel(),
        lifecycle.dead_letter("TooOld", "too old"),
    ],
    ids=lambda transition: transition.to,
)
def test_an_event_the_store_sends_built_is_the_one_the_scripts_build(redis_url, transition):
    # write_job takes a change's event as JSON, or builds it from the fields.
    args = JobWrites(Keys(), retention_seconds=60).args(transition)
    fields = dict(zip(args[10::2], args[11::2], strict=True))
    script = source("event.lua") + (
        "\nlocal fields = cjson.decode(ARGV[3])"
        "\nreturn event_json(ARGV[1], fields.updated_at, ARGV[2], function(name)"
        "\n    return fields[name] ~= 'null' and fields[name] or nil end)"
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    built = client.eval(script, 0, str(transition.to), args[3], json.dumps(fields))
    assert args[9] == built
    assert json.loads(built)["state"] == transition.to
