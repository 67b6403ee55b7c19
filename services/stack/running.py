"""Which stack runs from this checkout, and where: for a second ``make up``, and ``make down``.

The local stack records itself in ``stack.json`` under its run directory while
it runs; a compose stack is asked of Docker (``docker compose ps``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

#: The local stack's record, under its run directory.
STATE_FILE = "stack.json"


def record(run_dir: Path, url: str) -> None:
    """Say that this process runs the local stack, reached at ``url``."""
    (run_dir / STATE_FILE).write_text(json.dumps({"pid": os.getpid(), "url": url}))


def forget(run_dir: Path) -> None:
    (run_dir / STATE_FILE).unlink(missing_ok=True)


def local(run_dir: Path) -> dict | None:
    """``{"pid", "url"}`` of the local stack running from ``run_dir``, or None.

    A record left by a stack that was killed is forgotten.
    """
    try:
        state = json.loads((run_dir / STATE_FILE).read_text())
        os.kill(int(state["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    except ProcessLookupError:
        forget(run_dir)
        return None
    except PermissionError:
        pass  # alive, another user's
    return state


def compose_running(project_dir: Path) -> bool:
    """Whether compose runs containers of this checkout's project (False without Docker)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "compose", "ps", "--quiet"],  # running containers only, unless --all
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def already_running(run_dir: Path, project_dir: Path, compose_url: str) -> str | None:
    """A sentence saying which stack already runs and where, or None if none does."""
    state = local(run_dir)
    if state is not None:
        return (
            f"the stack already runs (local processes, pid {state['pid']}) at {state['url']}/; "
            "make down stops it"
        )
    if compose_running(project_dir):
        return f"the stack already runs (compose) at {compose_url}/; make down stops it"
    return None
