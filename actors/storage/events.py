"""The event streams of jobs and workflows as their followers read them: a read model.

A job's or a workflow's events are the entries (``{"event": JSON}``) of a
Redis stream, each also published, as ``<id> <JSON>``, on a channel named as
that stream (``lua/job.lua``, ``lua/workflow.lua``). The stores' reads and
the API's followers read and hear them here; none of them names a command or
how an entry is laid out.
"""

from __future__ import annotations

import json
from typing import Any

import redis
import redis.asyncio

from ..calls import Steps
from .codecs import EVENTS_PER_READ
from .record import text

#: An event with its stream id.
Event = tuple[str, dict[str, Any]]

__all__ = [
    "EVENTS_PER_READ",
    "Event",
    "channel_of",
    "later",
    "position",
    "published_event",
    "read_stream",
]


def read_stream(
    client: redis.Redis | redis.asyncio.Redis,
    stream_key: str,
    after: str,
    *,
    block_ms: int | None = None,
) -> Steps[list[Event]]:
    """The stream's events after the id ``after``, oldest first, at most ``EVENTS_PER_READ``.

    With ``block_ms``, waits up to that long for one when there is none yet.
    """
    reply = yield client.xread({stream_key: after}, block=block_ms, count=EVENTS_PER_READ)
    return [
        (text(event_id), json.loads(entry[b"event"]))
        for _stream, entries in reply or []
        for event_id, entry in entries
    ]


def channel_of(stream_key: str) -> bytes:
    """The channel a stream's events are published on, as a subscription names it."""
    return stream_key.encode()


def published_event(data: bytes) -> Event:
    """An event as it was published on its stream's channel."""
    event_id, _, event = data.partition(b" ")
    return event_id.decode(), json.loads(event)


def position(event_id: str) -> tuple[int, int]:
    """Where a stream id stands among others: ids sort by time, then by sequence."""
    milliseconds, _, sequence = event_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def later(event_id: str, after: str) -> bool:
    """Whether the stream id ``event_id`` comes after ``after``."""
    return position(event_id) > position(after)
