"""Sends what threads hand in, many items to one call, from a thread of its own."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from dramatiq.logging import get_logger

#: Time between two tries of a call that failed.
RETRY_SECONDS = 1.0
#: A call that fails is made again with those that succeeded this long before
#: the last success: Redis appends its writes to its file every second, up to
#: two seconds late while the disk is busy, so a restart may undo writes it
#: answered that long before it went away.
RESEND_SECONDS = 3.0


class BatchSender:
    """Sends what threads hand in, many items in one call, from a thread of its own.

    :meth:`put` returns at once; the thread sends everything handed in
    while its previous call was under way in its next. A worker whose
    threads finish jobs quickly thus acks them many to a round trip, and no
    thread waits for an ack. A call that fails, whatever the error (Redis
    away, out of memory, busy), is made again, with what was handed in
    meanwhile, every :data:`RETRY_SECONDS` until it succeeds, as dramatiq
    retries an ack: dropping one would leave its job "running" and its
    message held until the worker stops, to run again. The calls that
    succeeded within :data:`RESEND_SECONDS` before it are made again first,
    in their order: the failure may be a restart that lost them. What is
    sent must therefore be safe to send twice (an ack of a message no longer
    held does nothing; an end already written is refused).

    A call carries at most ``max_batch`` items, in the order handed in;
    what is left goes in the calls right after it.

    The thread starts with the sender, not with the first item: a worker
    thread hands items in while a cancellation may be raised into it, and a
    thread started then can die before it runs (CPython 3.11 aims such an
    exception at a thread still starting, too), leaving the starter waiting
    for good. It ends when :meth:`close` finds nothing left to send; an item
    handed in later starts it again.
    """

    def __init__(self, send: Callable[[list[Any]], None], *, name: str, max_batch: int):
        self.logger = get_logger(__name__, type(self))
        self._send = send
        self._name = name
        self._max_batch = max_batch
        self._changed = threading.Condition()
        self._pending: list[Any] = []
        #: The call under way: what it carries (empty: none is).
        self._batch: list[Any] = []
        #: The calls that succeeded within RESEND_SECONDS of the last: (when, batch) each.
        self._sent: deque[tuple[float, list[Any]]] = deque()
        self._closing = False
        self._thread = self._started()

    def put(self, item: Any) -> None:
        with self._changed:
            self._pending.append(item)
            self._closing = False
            if self._thread is None:
                self._thread = self._started()
            elif not self._batch:
                self._changed.notify_all()

    def _started(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        thread.start()
        return thread

    def close(self, timeout: float) -> bool:
        """Wait until everything handed in was sent, then end the thread; False on timeout."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
            return self._changed.wait_for(self._idle, timeout)

    def unsent(self) -> list[Any]:
        """What was handed in and not yet sent: waiting, or in the call under way."""
        with self._changed:
            return self._batch + self._pending

    def _idle(self) -> bool:
        return not self._pending and not self._batch

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closing)
                if self._closing and not self._pending:
                    self._thread = None
                    return
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self._batch = batch
            sent = self._send_batch(batch)
            with self._changed:
                self._batch = []
                if sent:
                    self._remember(batch)
                else:
                    resent = [item for _, earlier in self._sent for item in earlier]
                    self._sent.clear()
                    self._pending[:0] = resent + batch
                self._changed.notify_all()
            if not sent:
                time.sleep(RETRY_SECONDS)

    def _remember(self, batch: list[Any]) -> None:
        """Keep a call that succeeded, and those within RESEND_SECONDS before it."""
        now = time.monotonic()
        self._sent.append((now, batch))
        while self._sent[0][0] < now - RESEND_SECONDS:
            self._sent.popleft()

    def _send_batch(self, batch: list[Any]) -> bool:
        """Send ``batch``; False if it is to be sent again."""
        try:
            self._send(batch)
        except Exception as error:
            self.logger.warning(
                "Sending %d item(s) failed (%s: %s); trying again in %.0f s.",
                len(batch),
                type(error).__name__,
                error,
                RETRY_SECONDS,
            )
            return False
        return True
