"""The Lua scripts as Redis runs them: each after the shared functions it calls.

Redis runs one script at a time and a script cannot load another, so the
functions several share (``lua/queue.lua``: enqueue and wake; ``lua/job.lua``:
write_job; ``lua/workflow.lua``: moving workflows on as their steps' jobs
change) are written in front of the scripts that call them. A whole
script can be called from another too, as a function (:func:`as_function`).
"""

from __future__ import annotations

from pathlib import Path

#: The scripts of the broker and the job store, and the shared functions.
LUA_DIR = Path(__file__).with_name("lua")
#: What every script that writes job records loads: a workflow's steps are
#: counted by the write of their ends, whichever script makes it.
JOB_WRITES = ("queue.lua", "job.lua", "workflow.lua")


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
