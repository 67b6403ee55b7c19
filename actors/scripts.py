"""The Lua scripts as Redis runs them: each after the shared functions it calls.

Redis runs one script at a time and a script cannot load another, so the
functions several share (``lua/queue.lua``: enqueue and wake; ``lua/job.lua``:
write_job; ``lua/workflow.lua``: moving workflows on as their steps' jobs
change) are written in front of the scripts that call them. A whole
script can be called from another too, as a function (:func:`as_function`).
"""

from __future__ import annotations

from pathlib import Path

import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

#: The scripts of the broker and the job store, and the shared functions.
LUA_DIR = Path(__file__).with_name("lua")
#: What every script that writes job records loads: a workflow's steps, and
#: the console's figures, are counted by the write of a job's end, whichever
#: script makes it.
JOB_WRITES = ("queue.lua", "job.lua", "workflow.lua", "stats.lua")


def source(script: Path | str, *shared: str) -> str:
    """``script`` (a path, or a file of ``lua/``) after the ``shared`` files of ``lua/`` named."""
    files = [LUA_DIR / name for name in shared] + [LUA_DIR / script]
    return "\n".join(path.read_text() for path in files)


def as_function(script: str, name: str) -> str:
    """The script of ``lua/`` named, as a local function ``name(KEYS, ARGV)`` that runs it.

    Its KEYS and ARGV become the function's arguments, and it returns what
    the script returns: a script that creates jobs also writes them for
    another that needs to, in the same atomic call.
    """
    return f"local function {name}(KEYS, ARGV)\n{(LUA_DIR / script).read_text()}\nend\n"


class ScriptClient(redis.Redis):
    """A Redis client whose scripts a full Redis refuses whole, never halfway.

    Redis checks a plain script's writes for memory one by one, so a script
    could pop a message and then fail to record it, and the message would be
    lost; the writes of a script are never undone. A script declared with a
    shebang (``#!lua``) is checked once, before it runs: every script this
    client registers gets one.
    """

    def register_script(self, script: str | bytes) -> Script:
        return super().register_script(checked_whole(script))


class AsyncScriptClient(redis.asyncio.Redis):
    """:class:`ScriptClient` for asyncio: the API's."""

    def register_script(self, script: str | bytes) -> AsyncScript:
        return super().register_script(checked_whole(script))


def checked_whole(script: str | bytes) -> str:
    """``script`` declared with a shebang, so that a full Redis refuses it whole."""
    if isinstance(script, bytes):
        script = script.decode()
    return script if script.startswith("#!") else f"#!lua\n{script}"
