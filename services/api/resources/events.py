"""``/jobs/{job_id}/events``: a job's events so far, then its changes as they happen, as SSE.

An ended job keeps only its last event: a client that comes after the end gets
the outcome, and its stream ends.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import falcon
import falcon.asgi

from actors import Queue
from actors.record import EVENT_KINDS, event_kind
from actors.storage.events import Event

from .. import sse
from ..contract import Operation, Response
from ..models import EventsHeaders, JobEvent, shown_event
from ..streams import Streams
from .job import find

#: How often an event stream says it is still there when nothing happens.
KEEPALIVE_SECONDS = 15


class JobEvents:
    """``/jobs/{job_id}/events``: every state and progress change, as Server-Sent Events."""

    operations = {
        "get": Operation(
            "Follow a job: its events as Server-Sent Events, until it ends",
            headers=EventsHeaders,
            responses={
                200: Response(
                    "An event stream: `state` and `progress` events",
                    JobEvent,
                    media_type="text/event-stream",
                    events=EVENT_KINDS,
                ),
                204: Response(
                    "The job has ended and the client has every event"
                    " (EventSource stops reconnecting)"
                ),
                400: "Last-Event-ID is not an event id",
                404: "No such job",
            },
        )
    }

    def __init__(self, queue: Queue, streams: Streams, stream_seconds: int):
        self.queue = queue
        self.streams = streams
        #: How long one stream lasts; EventSource reconnects with Last-Event-ID.
        self.stream_seconds = stream_seconds

    async def on_get(self, req: falcon.Request, resp: falcon.asgi.Response, job_id: str) -> None:
        record = await find(self.queue, job_id)
        after = self.operations["get"].read_headers(req).last_event_id
        ended = await self.queue.store.ended(job_id, record.state, after=after)
        follow = self.streams.follow_job(
            job_id,
            after=after,
            quiet_seconds=KEEPALIVE_SECONDS,
            deadline=time.monotonic() + self.stream_seconds,
        )
        answer(resp, self.streams, ended, follow, event_kind)


def answer(
    resp: falcon.asgi.Response,
    streams: Streams,
    ended: bool,
    follow: AsyncIterator[Event | None],
    kind: Callable[[dict[str, Any]], str],
) -> None:
    """Answer with the events ``follow`` yields, as SSE of ``kind``, or 204 if it ``ended``.

    ``ended``: what is followed has ended and the client has every event.
    """
    if ended:
        # An EventSource reconnecting after the last event would otherwise
        # hold a stream for nothing; 204 tells it to stop.
        resp.status = falcon.HTTP_204
        return
    # Refused with 503 here, before the stream starts, when the process is full.
    release = streams.take()
    sse.open_stream(resp)
    resp.sse = _frames(follow, kind, release)


async def _frames(
    follow: AsyncIterator[Event | None],
    kind: Callable[[dict[str, Any]], str],
    release: Callable[[], None],
) -> AsyncIterator[falcon.asgi.SSEvent]:
    """The events as the API shows them, a keep-alive for each quiet spell; then ``release``."""
    try:
        yield sse.RECONNECT
        async for item in follow:
            if item is None:
                yield sse.KEEPALIVE
                continue
            event_id, event = item
            yield sse.frame(event_id, kind(event), shown_event(event))
    finally:
        release()
