"""Ports for listeners the stack chooses itself, that no outgoing connection can take.

Asking the kernel for a free port (binding port 0) gives one from the
ephemeral range, the range it also gives outgoing connections. Between the
moment a port is chosen and the moment a process listens on it, and again
while a crashed process restarts, a connection (to Redis, from Traefik to an
instance) may be given that port, and the listener then cannot start. The
kernel never gives connections a port below the ephemeral range, so the
ports are chosen there, at random, and checked.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
from collections.abc import Container
from pathlib import Path

#: Where Linux publishes its ephemeral range.
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Where it is not published: IANA's dynamic ports, which macOS and others use.
DYNAMIC_PORTS = (49152, 65535)
#: Below this, ports registered to well-known services.
LOWEST = 10000


def unused_ports(count: int, host: str = "127.0.0.1", *, avoid: Container[int] = ()) -> list[int]:
    """``count`` distinct ports nothing listens on now, none in ``avoid``."""
    low, high = candidate_range()
    candidates = [port for port in range(low, high) if port not in avoid]
    random.shuffle(candidates)
    free = (port for port in candidates if bindable(host, [port]))
    chosen = list(itertools.islice(free, count))
    if len(chosen) == count:
        return chosen
    raise OSError(f"no {count} free ports on {host} between {low} and {high - 1}")


def candidate_range() -> tuple[int, int]:
    """The ports to choose from (first, end exclusive): below the ephemeral range, or above it."""
    try:
        first_ephemeral, last_ephemeral = map(int, EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        first_ephemeral, last_ephemeral = DYNAMIC_PORTS
    if first_ephemeral - LOWEST >= 1000:
        return LOWEST, first_ephemeral
    if 65535 - last_ephemeral >= 1000:
        return last_ephemeral + 1, 65536
    # The ephemeral range covers nearly every port: no choice avoids it.
    return LOWEST, 65536


def bindable(host: str, ports: list[int]) -> bool:
    """Whether every one of ``ports`` can be bound on ``host`` now."""
    # Without SO_REUSEADDR, so that a port a connection left in TIME_WAIT is passed over too.
    with contextlib.ExitStack() as held:
        try:
            for port in ports:
                held.enter_context(socket.socket()).bind((host, port))
        except OSError:
            return False
    return True
