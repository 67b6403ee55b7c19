"""The broker's queues as the dashboard and the metrics read them: a read model.

Readers ask here what a queue holds, which workers are alive, where a
message is; none of them names a key. Each question costs one round trip,
or one pipeline, whatever the number of queues.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from dramatiq.common import dq_name, q_name, xq_name

from .keys import Keys


@dataclass(frozen=True)
class QueueFigures:
    """One queue's messages: waiting, delayed (in the delay queue or held by a worker), dead."""

    waiting: int
    delayed: int
    dead: int
    #: When the message first in line was sent (ms), None for an empty queue.
    oldest_sent_at: int | None


@dataclass(frozen=True)
class Figures:
    """Every queue's figures, the workers alive, and Redis's memory."""

    queues: dict[str, QueueFigures]
    workers_alive: int
    memory_used: int
    memory_max: int
    #: Commands Redis refused for want of memory since it started.
    writes_refused: int


class QueueReadings:
    """Reads what the broker holds.

    Parameters:
      client: the broker's Redis client.
      keys: the key layout (the broker's namespace).
    """

    def __init__(self, client: redis.Redis, keys: Keys):
        self.client = client
        self.keys = keys

    def figures(self, queues: Iterable[str], heartbeat_timeout_ms: int) -> Figures:
        """The figures of ``queues``: three round trips at most."""
        queues = sorted(queues)
        workers = self.client.zrangebyscore(
            self.keys.heartbeats, time.time() * 1000 - heartbeat_timeout_ms, "+inf"
        )
        keys = self.keys
        with self.client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.llen(keys.queue(queue))
                pipe.llen(keys.delayed(queue))
                pipe.zcard(keys.dead_letters(queue))
                pipe.lindex(keys.queue(queue), 0)
                # Delayed messages wait in the memory of the worker that fetched them.
                for worker in workers:
                    pipe.scard(keys.acks(worker.decode(), dq_name(queue)))
            pipe.info("memory")
            pipe.info("errorstats")
            replies = iter(pipe.execute())
        counts = {}
        for queue in queues:
            waiting, delayed, dead, first = (next(replies) for _ in range(4))
            delayed += sum(next(replies) for _ in workers)
            counts[queue] = (waiting, delayed, dead, first)
        memory, errors = next(replies), next(replies)
        sent_at = self._sent_at({q: c[3] for q, c in counts.items() if c[3] is not None})
        return Figures(
            queues={
                queue: QueueFigures(waiting, delayed, dead, sent_at.get(queue))
                for queue, (waiting, delayed, dead, _) in counts.items()
            },
            workers_alive=len(workers),
            memory_used=memory["used_memory"],
            memory_max=memory["maxmemory"],
            writes_refused=errors.get("errorstat_OOM", {}).get("count", 0),
        )

    def _sent_at(self, first_ids: dict[str, bytes]) -> dict[str, int]:
        """When each queue's first message was sent (ms), for those still there."""
        with self.client.pipeline(transaction=False) as pipe:
            for queue, message_id in first_ids.items():
                pipe.hget(self.keys.messages(queue), message_id)
            messages = pipe.execute()
        return {
            queue: json.loads(message)["message_timestamp"]
            for queue, message in zip(first_ids, messages, strict=True)
            if message is not None
        }

    def holder(self, queue_name: str, redis_message_id: str) -> str | None:
        """Which of a queue, its delay queue and its dead letters holds a message; None: none."""
        name = q_name(queue_name)
        holders = [name, dq_name(name), xq_name(name)]
        with self.client.pipeline(transaction=False) as pipe:
            for holder in holders:
                pipe.hexists(self.keys.messages(holder), redis_message_id)
            found = pipe.execute()
        return next((holder for holder, here in zip(holders, found, strict=True) if here), None)

    def messages(self, queue_name: str, ids: Sequence[Any]) -> list[bytes | None]:
        """The messages of these Redis ids in ``queue_name`` (a queue, ``.DQ`` or ``.XQ``)."""
        return self.client.hmget(self.keys.messages(queue_name), ids)

    def dead_letters(self, queue_name: str) -> tuple[int, int | None]:
        """How many of a queue's letters are dead, and when the newest died (ms), None if none."""
        dead = self.keys.dead_letters(queue_name)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zcard(dead)
            pipe.zrange(dead, -1, -1, withscores=True)
            count, newest = pipe.execute()
        return count, int(newest[0][1]) if newest else None

    def dead_letter_ids(self, queue_name: str, dead_before: int) -> list[bytes]:
        """The Redis ids of a queue's letters dead by ``dead_before`` (ms), oldest first."""
        return self.client.zrangebyscore(self.keys.dead_letters(queue_name), "-inf", dead_before)

    def worker_name(self, worker_id: str) -> str:
        """The name a worker goes by in logs and records, for its broker id."""
        name = self.client.hget(self.keys.worker_names, worker_id)
        return name.decode() if name else worker_id
