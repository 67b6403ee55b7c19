"""What Redis itself counts: commands by name, reads from clients, memory.

``total_reads_processed`` counts the reads Redis made from client sockets,
one per request or pipeline that arrived in one piece: the round trips
clients paid for. Commands run by Lua scripts count in ``commandstats`` too,
so a script call shows as ``evalsha`` plus what it ran.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class RedisCounters:
    commands: Counter[str]
    reads: int
    used_memory: int

    def __sub__(self, before: RedisCounters) -> RedisCounters:
        commands = Counter(self.commands)
        commands.subtract(before.commands)
        return RedisCounters(
            commands=+commands,
            reads=self.reads - before.reads,
            used_memory=self.used_memory - before.used_memory,
        )


def redis_counters(client: redis.Redis) -> RedisCounters:
    """Redis's counters now. Taking them costs one round trip (three commands) of its own."""
    with client.pipeline(transaction=False) as pipe:
        pipe.info("commandstats")
        pipe.info("stats")
        pipe.info("memory")
        commandstats, stats, memory = pipe.execute()
    return RedisCounters(
        commands=Counter(
            {name.removeprefix("cmdstat_"): value["calls"] for name, value in commandstats.items()}
        ),
        reads=stats["total_reads_processed"],
        used_memory=memory["used_memory"],
    )
