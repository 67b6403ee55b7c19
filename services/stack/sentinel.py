"""The local stack's Redis, highly available: a master, its replicas and three sentinels.

With REDIS_REPLICAS set, ``make up`` runs ``redis.1`` (on REDIS_PORT), one
replica per following port (``redis.2``, ...), and a sentinel per port of
SENTINEL_PORTS, which watch the master and promote a replica when it stays
silent for SENTINEL_DOWN_AFTER_MS. The services find the master through
the sentinels (REDIS_SENTINELS, which the stack sets).

Which node is the master is the sentinels' to say, across restarts too: a
node starts through :mod:`.redis_node`, which asks them first and starts as
a replica of the master they name, or as the master when they name it. So
a master killed and started again before the sentinels gave up on it is the
master again, on its own data; once they have promoted another node, it
comes back as that node's replica. Each sentinel's configuration is written
afresh at each start, monitoring the master the sentinels last named (read
from what they wrote), so that the timings follow the settings.

When the stack starts, the nodes come first (no sentinel answers yet: the
master is the one the sentinels last named), then the sentinels, which learn
the replicas from the master at once; the stack waits until each sentinel
knows every replica (:func:`know_every_replica`): a replica a sentinel does
not know is not moved to the new master in a failover.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from services.settings import Settings

from .supervisor import ProcessSpec

#: Where the sentinels listen, and where they say the master is.
HOST = "127.0.0.1"
#: A sentinel that does not answer within this long is skipped.
ASK_TIMEOUT = 0.5


def node_ports(settings: Settings) -> list[int]:
    """The master's port (REDIS_PORT), then one per replica on the following ports."""
    return [settings.redis_port + number for number in range(settings.redis_replicas + 1)]


def node_dirs(settings: Settings, run_dir: Path) -> list[Path]:
    """Each node's data directory: the master's where a single Redis keeps its data."""
    return [
        run_dir / ("redis" if number == 1 else f"redis.{number}")
        for number in range(1, settings.redis_replicas + 2)
    ]


def quorum(settings: Settings) -> int:
    """How many sentinels must agree that the master is down: most of them."""
    return len(settings.sentinel_ports) // 2 + 1


def sentinel_config(settings: Settings, data_dir: Path, port: int, master_port: int) -> str:
    """A sentinel's configuration file, watching the master on ``master_port``."""
    name = settings.redis_master_name
    return "\n".join(
        [
            f"port {port}",
            f"bind {HOST}",
            f"dir {data_dir}",
            f"sentinel monitor {name} {HOST} {master_port} {quorum(settings)}",
            f"sentinel down-after-milliseconds {name} {settings.sentinel_down_after_ms}",
            f"sentinel failover-timeout {name} {settings.sentinel_failover_timeout_ms}",
            f"sentinel parallel-syncs {name} 1",
            "",
        ]
    )


def last_master(settings: Settings, config_files: list[Path]) -> int:
    """The port of the master the sentinels last named, as they wrote it; else REDIS_PORT."""
    ports = node_ports(settings)
    pattern = re.compile(
        rf"^sentinel monitor {re.escape(settings.redis_master_name)} \S+ (\d+) ", re.M
    )
    for path in config_files:
        try:
            found = pattern.search(path.read_text())
        except FileNotFoundError:
            continue
        if found and int(found[1]) in ports:
            return int(found[1])
    return ports[0]


def config_files(settings: Settings, run_dir: Path) -> list[Path]:
    """Each sentinel's configuration file, which it rewrites as it learns."""
    return [
        run_dir / f"sentinel.{number}" / "sentinel.conf"
        for number in range(1, len(settings.sentinel_ports) + 1)
    ]


def sentinels(
    settings: Settings, server: Path, run_dir: Path, master_port: int
) -> list[ProcessSpec]:
    """One sentinel per SENTINEL_PORTS, each with a configuration file of its own."""
    dirs = [path.parent for path in config_files(settings, run_dir)]
    specs = []
    for number, (directory, port) in enumerate(
        zip(dirs, settings.sentinel_ports, strict=True), start=1
    ):
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "sentinel.conf"
        config.write_text(sentinel_config(settings, directory, port, master_port))
        specs.append(
            ProcessSpec(
                name=f"sentinel.{number}",
                argv=[str(server), str(config), "--sentinel"],
                ready_port=port,
            )
        )
    return specs


def nodes(settings: Settings, server: Path, run_dir: Path, master_port: int) -> list[ProcessSpec]:
    """The master and its replicas, each started by :mod:`.redis_node` in the role it has.

    ``master_port`` is the master when no sentinel answers (they start after the nodes).
    """
    specs = []
    for number, (port, data_dir) in enumerate(
        zip(node_ports(settings), node_dirs(settings, run_dir), strict=True), start=1
    ):
        data_dir.mkdir(parents=True, exist_ok=True)
        specs.append(
            ProcessSpec(
                name=f"redis.{number}",
                argv=[
                    sys.executable,
                    "-m",
                    "services.stack.redis_node",
                    f"--server={server}",
                    f"--port={port}",
                    f"--dir={data_dir}",
                    f"--master-port={master_port}",
                ],
                ready_port=port,
                stop_timeout=30,
            )
        )
    return specs


def _ask(address: tuple[str, int], question: Callable[[redis.Redis], Any]) -> Any:
    """A sentinel's answer to ``question``; None when it does not answer."""
    client = redis.Redis(
        *address,
        socket_timeout=ASK_TIMEOUT,
        socket_connect_timeout=ASK_TIMEOUT,
        decode_responses=True,
    )
    try:
        return question(client)
    except redis.RedisError:
        return None
    finally:
        client.close()


def named_master(settings: Settings) -> tuple[str, int] | None:
    """The master's address as the first sentinel that answers names it; None if none does."""
    name = settings.redis_master_name
    for address in settings.sentinel_addresses:
        named = _ask(address, lambda client: client.sentinel_get_master_addr_by_name(name))
        if named:
            return named[0], int(named[1])
    return None


def know_every_replica(settings: Settings) -> bool:
    """Whether every sentinel knows REDIS_REPLICAS replicas of the master, none of them down."""
    name = settings.redis_master_name
    for address in settings.sentinel_addresses:
        replicas = _ask(address, lambda client: client.sentinel_slaves(name))
        if replicas is None:
            return False
        up = [replica for replica in replicas if not replica["is_sdown"]]
        if len(up) < settings.redis_replicas:
            return False
    return True
