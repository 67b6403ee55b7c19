"""``python -m services.stack.redis_node``: start one Redis node of the HA stack in its role.

The sentinels say which node is the master (see :mod:`.sentinel`): this
node starts as a replica of the one they name, or as the master when they
name it (or, when none answers, when it listens on REDIS_PORT). It then
becomes the server itself (``exec``), so that the stack's signals reach it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import redis

from services.settings import load_settings

from . import redis_server
from .sentinel import HOST

#: A sentinel that does not answer within this long is skipped.
ASK_TIMEOUT = 0.5


def named_master(sentinels: list[tuple[str, int]], master_name: str) -> tuple[str, int] | None:
    """The master's address as the first sentinel that answers names it; None if none does."""
    for host, port in sentinels:
        client = redis.Redis(
            host,
            port,
            socket_timeout=ASK_TIMEOUT,
            socket_connect_timeout=ASK_TIMEOUT,
            decode_responses=True,
        )
        try:
            address = client.sentinel_get_master_addr_by_name(master_name)
        except redis.RedisError:
            continue
        finally:
            client.close()
        if address:
            return address[0], int(address[1])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.stack.redis_node", description=__doc__
    )
    parser.add_argument("--server", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    settings = load_settings()
    master = named_master(list(settings.sentinel_addresses), settings.redis_master_name) or (
        HOST,
        settings.redis_port,
    )
    argv = redis_server.server_command(
        args.server,
        host=HOST,
        port=args.port,
        data_dir=args.dir,
        maxmemory=settings.redis_maxmemory,
    )
    if master != (HOST, args.port):
        argv += ["--replicaof", master[0], str(master[1])]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
