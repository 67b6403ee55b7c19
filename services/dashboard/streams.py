"""Long-lived requests (event streams, ``?wait=``) and the threads they may hold.

Under gunicorn's gthread workers, a request holds a thread for as long as it
lasts. Each process takes at most ``stream_slots`` long-lived requests, which
is fewer than its threads, so ordinary requests always find a thread; a long
request beyond that gets 503 with Retry-After instead of queueing behind.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from .errors import BUSY_RETRY_AFTER, unavailable


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
