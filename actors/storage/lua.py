"""The Lua scripts as Redis runs them: each with the files it includes written in.

Redis runs one script at a time, and a script cannot load another, so the
functions several share are written into each script that calls them. A
script names what it needs on a line of its own::

    --!include job.lua

and :func:`source` puts the file of ``lua/`` named there in that line's
place, its own includes resolved the same way. A file goes into a script
once, where it is first included: one included again, by the script or by a
file it includes, is left out, so two files may include each other (see
``job.lua`` and ``workflow.lua``). Following the include lines from a script
finds every function it calls.

A script makes every function it defines at each call, before its work, so
a function an included file defines that the script never names is left
out (a key builder of ``keys.lua`` that the script has no use for).

Includes rather than one library loaded with ``FUNCTION LOAD``: a script is
known to Redis by its content (``EVALSHA``), so processes of two versions,
as in a rolling restart, each run their own, and a server that lost it
(restarted, or a replica promoted) is sent it again by redis-py; a library
of functions is one per server, which every version would share.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

#: The scripts, and the files they include.
LUA_DIR = Path(__file__).with_name("lua")
#: A line that includes a file of ``LUA_DIR``.
INCLUDE = re.compile(r"^--!include (\S+)[ \t]*$", re.MULTILINE)
#: A function a file defines at its top level, from its first line to the ``end`` that
#: closes it: every line between is indented, a comment or blank.
#: A word of Lua: a name, a keyword or digits.
WORD = re.compile(r"\w+")
DEFINITION = re.compile(r"^local function (\w+)\(.*\n(?:(?:[ \t].*|--.*|)\n)*?end\n", re.MULTILINE)


def source(script: Path | str) -> str:
    """``script`` (a path, or a file of ``lua/``) with what it includes written in.

    Of the functions its includes define, only those it names are written in.
    """
    return _source(script if isinstance(script, Path) else LUA_DIR / script)


@functools.cache
def _source(path: Path) -> str:
    # Made once a process: every client of the store loads its scripts.
    own = set(DEFINITION.findall(path.read_text()))
    return _named_only(_with_includes(path, set()), own)


def _named_only(text: str, kept: set[str]) -> str:
    """``text`` without the functions it defines and names nowhere else, but ``kept``.

    One left out may have been the only one to name another: that one goes too.
    A function is named nowhere else when every word of the text that is its
    name is in its own definition.
    """
    while True:
        named = Counter(WORD.findall(text))
        unnamed = [
            found
            for found in DEFINITION.finditer(text)
            if found[1] not in kept and named[found[1]] == WORD.findall(found[0]).count(found[1])
        ]
        if not unnamed:
            return text
        for found in reversed(unnamed):
            text = text[: found.start()] + text[found.end() :]


def _with_includes(path: Path, included: set[str]) -> str:
    included.add(path.name)

    def include(line: re.Match[str]) -> str:
        name = line[1]
        if name in included:
            return f"-- {name}: included above"
        return _with_includes(LUA_DIR / name, included)

    return INCLUDE.sub(include, path.read_text())


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
