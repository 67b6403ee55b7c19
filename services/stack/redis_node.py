"""``python -m services.stack.redis_node``: start one Redis node of the HA stack in its role.

The sentinels say which node is the master (see :mod:`.sentinel`): this
node starts as a replica of the one they name, or as the master when they
name it. When none answers (the stack is starting, and starts them next),
the master is the node on ``--master-port``. The launcher then becomes the
server itself (``exec``), so that the stack's signals reach it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from services.settings import load_settings

from . import redis_server, sentinel


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.stack.redis_node", description=__doc__
    )
    parser.add_argument("--server", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--master-port", type=int, required=True)
    args = parser.parse_args()
    settings = load_settings()
    master = sentinel.named_master(settings) or (sentinel.HOST, args.master_port)
    argv = redis_server.server_command(
        args.server,
        host=sentinel.HOST,
        port=args.port,
        data_dir=args.dir,
        maxmemory=settings.redis_maxmemory,
    )
    if master != (sentinel.HOST, args.port):
        argv += ["--replicaof", master[0], str(master[1])]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
