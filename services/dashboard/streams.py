"""The dashboard's event streams (a job's, a workflow's), and the threads they may hold.

The dashboard is a WSGI app under gunicorn's gthread workers, where a
request holds a thread for as long as it lasts. It serves the API's
``/jobs/{job_id}/events`` and ``/workflows/{workflow_id}/events``
operations, read the same way, from a thread, following with the stores'
blocking reads; it takes at most ``slots`` streams at once, fewer than its
threads, so that pages are always served, and one stream too many gets 503
with Retry-After instead of queueing behind.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import parse_qsl

import falcon

from actors import Queue
from actors.record import event_kind
from actors.storage.events import Event
from actors.workflows import Workflows
from services.api import errors, sse
from services.api.contract import Operation
from services.api.errors import BUSY_RETRY_AFTER, no_such_job, no_such_workflow, unavailable
from services.api.models import shown_event
from services.api.resources.events import KEEPALIVE_SECONDS, JobEvents
from services.api.resources.workflows import WORKFLOW_EVENT_KINDS, WorkflowEvents


class FollowedStore(Protocol):
    """A store whose records are followed: the job store, the workflows' store."""

    def get(self, record_id: str) -> Any: ...

    def ended(self, record_id: str, state: Any, *, after: str) -> bool: ...

    def follow(
        self, record_id: str, *, after: str, block_ms: int, deadline: float
    ) -> Iterator[Event | None]: ...


class EventStream:
    """An event-stream operation of the API, answered from a thread of a WSGI app.

    Parameters:
      operation: the API's declaration of it (its headers are read the same way).
      store: the store of what is followed, on a blocking client: its record
        (``get``), whether it has ended with no event after an id (``ended``),
        its events as they come (``follow``).
      kind: the SSE event name of an event.
      missing: the 404 of nothing found.

    Its events are shown as the API shows them (``shown_event``: times in ISO 8601).
    """

    def __init__(
        self,
        operation: Operation,
        store: FollowedStore,
        kind: Callable[[dict[str, Any]], str],
        missing: Callable[[str], falcon.HTTPError],
        *,
        slots: StreamSlots,
        stream_seconds: int,
    ):
        self.operations = {"get": operation}
        self.store, self.kind, self.missing = store, kind, missing
        self.slots = slots
        self.stream_seconds = stream_seconds

    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        (followed,) = params.values()
        record = self.store.get(followed)
        if record is None:
            raise self.missing(followed)
        after = self.operations["get"].read_headers(req).last_event_id
        if self.store.ended(followed, record.state, after=after):
            resp.status = falcon.HTTP_204
            return
        sse.open_stream(resp)
        resp.stream = self.slots.stream(self._events(followed, after))

    def _events(self, followed: str, after: str) -> Iterator[bytes]:
        yield sse.RECONNECT.serialize()
        follow = self.store.follow(
            followed,
            after=after,
            block_ms=KEEPALIVE_SECONDS * 1000,
            deadline=time.monotonic() + self.stream_seconds,
        )
        for item in follow:
            if item is None:
                yield sse.KEEPALIVE.serialize()
                continue
            event_id, event = item
            yield sse.frame(event_id, self.kind(event), shown_event(event)).serialize()


#: Event streams the dashboard serves at once: fewer than its threads (4),
#: so that pages are always served while jobs are followed.
STREAM_SLOTS = 3
#: Where a job's or a workflow's events are streamed, below the dashboard's prefix.
EVENTS_PATH = re.compile(r"/(jobs|workflows)/[^/]+/events")


def event_streams(queue: Queue, workflows: Workflows, stream_seconds: int) -> falcon.App:
    """The API's event-stream resources, served as the API serves them, from shared slots."""
    shared = {"slots": StreamSlots(STREAM_SLOTS), "stream_seconds": stream_seconds}
    app = falcon.App()
    errors.install(app)
    jobs = EventStream(JobEvents.operations["get"], queue.store, event_kind, no_such_job, **shared)
    app.add_route("/jobs/{job_id}/events", jobs)
    steps = EventStream(
        WorkflowEvents.operations["get"],
        workflows.store,
        lambda event: WORKFLOW_EVENT_KINDS[0],
        no_such_workflow,
        **shared,
    )
    app.add_route("/workflows/{workflow_id}/events", steps)
    return app


def resumed(environ: dict) -> dict:
    """``environ`` with ``?after=`` as the Last-Event-ID a page cannot send at first.

    EventSource sends the header only when it reconnects; then the header wins.
    """
    if "HTTP_LAST_EVENT_ID" in environ:
        return environ
    after = dict(parse_qsl(environ.get("QUERY_STRING", ""))).get("after")
    return {**environ, "HTTP_LAST_EVENT_ID": after} if after else environ


class StreamSlots:
    def __init__(self, slots: int):
        self._slots = threading.BoundedSemaphore(slots)

    def _acquire(self) -> None:
        if not self._slots.acquire(blocking=False):
            raise unavailable(
                "too many long-lived requests on this instance; try again shortly",
                retry_after=BUSY_RETRY_AFTER,
            )

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold a slot for the duration of the block, or refuse with 503."""
        self._acquire()
        try:
            yield
        finally:
            self._slots.release()

    def stream(self, body: Iterator[bytes]) -> SlotStream:
        """Hold a slot while ``body`` is sent, or refuse with 503 before any is."""
        self._acquire()
        return SlotStream(body, self._slots.release)


class SlotStream:
    """A response body that gives its slot back when the server closes it.

    WSGI servers call ``close()`` whether the body was sent in full, cut short
    by a client that left, or never started; a generator's own ``finally``
    would not run in the last case.
    """

    def __init__(self, body: Iterator[bytes], release) -> None:
        self._body = body
        self._release = release
        self._released = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        return self._body

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            if not self._released.is_set():
                self._released.set()
                self._release()
