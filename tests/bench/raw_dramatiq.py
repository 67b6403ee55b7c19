"""Raw dramatiq, the baseline the service's worker is measured against.

Dramatiq's own Redis broker with its default middleware, under a namespace
of its own on the same Redis as the stack, and two actors that do nothing
the service's jobs would not also do: ``noop`` for draining, and ``stamp``,
which records how long its message waited before a worker started it.
"""

from __future__ import annotations

import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker

#: Keeps the baseline's queues apart from the service's (``dramatiq:*``).
NAMESPACE = "bench-raw"
#: A list of the seconds each ``stamp`` message waited, oldest first.
WAITS_KEY = f"{NAMESPACE}:waits"


def noop() -> None:
    """Nothing: what is left is the cost of carrying a message."""


def stamp(sent_at: float) -> None:
    """Record how long ago (in seconds, by the clock of this machine) the message was sent."""
    waited = time.time() - sent_at
    dramatiq.get_broker().client.rpush(WAITS_KEY, waited)


def declare(redis_url: str) -> tuple[RedisBroker, dict[str, dramatiq.Actor]]:
    """The baseline's broker on ``redis_url`` and its actors, by name."""
    broker = RedisBroker(url=redis_url, namespace=NAMESPACE)
    return broker, {fn.__name__: dramatiq.actor(fn, broker=broker) for fn in (noop, stamp)}
