"""The Lua scripts as Redis runs them: each after the shared functions it calls.

Redis runs one script at a time and a script cannot load another, so the
functions several share (``lua/queue.lua``: enqueue and wake; ``lua/job.lua``:
write_job) are written in front of the scripts that call them.
"""

from __future__ import annotations

from pathlib import Path

#: The scripts of the broker and the job store, and the shared functions.
LUA_DIR = Path(__file__).with_name("lua")


def source(script: Path | str, *shared: str) -> str:
    """``script`` (a path, or a file of ``lua/``) after the ``shared`` files of ``lua/`` named."""
    files = [LUA_DIR / name for name in shared] + [LUA_DIR / script]
    return "\n".join(path.read_text() for path in files)
