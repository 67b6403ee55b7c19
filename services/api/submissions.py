"""Jobs submitted one a request, written together: each event-loop tick's in one script call.

Requests run concurrently on the API's event loop. Written one by one,
each job would pay a script call's fixed cost in Redis (loading its
functions, reading its settings) and its own reply; the jobs submitted in
one tick of the loop are instead gathered, and written by one call of the
same script that writes a batch, whose reply is shared out among them.
Nothing waits for company: the call goes out at the end of the tick that
submitted the first of them, so a lone request is written as soon as it
would have been alone.

A job with an Idempotency-Key is written alone: a key used before with
another request refuses its whole call, which must not refuse other
requests' jobs. Whatever a shared call raises (Redis away, full, or a
replica that did not confirm), each of its requests raises: none was
written, or none is known to be.
"""

from __future__ import annotations

import asyncio

from actors import Queue
from actors.job_request import JobRequest
from actors.record import JobRecord
from actors.submission import Creation, prepare_one, submit, write

#: A request's part of a shared call: its one job's creation, and who waits for its record.
Waiting = tuple[Creation, asyncio.Future]


class Submissions:
    """Submits one job a request, the jobs of one event-loop tick in one script call."""

    def __init__(self, queue: Queue):
        self.queue = queue
        self._gathered: list[Waiting] = []
        # The calls under way: the event loop holds a task only weakly.
        self._writing: set[asyncio.Task] = set()

    async def submit(
        self, request: JobRequest, *, idempotency_key: str | None = None
    ) -> tuple[bool, JobRecord]:
        """Record and enqueue one job; as :func:`actors.submission.submit` does.

        :class:`~actors.submission.InvalidJob`, before anything is sent, for
        a request that does not fit its job.
        """
        if idempotency_key:
            return await submit(self.queue, request, idempotency_key=idempotency_key)
        creation = prepare_one(self.queue, request)
        loop = asyncio.get_running_loop()
        if not self._gathered:
            loop.call_soon(self._write_gathered)
        written = loop.create_future()
        self._gathered.append((creation, written))
        return await written

    def _write_gathered(self) -> None:
        gathered, self._gathered = self._gathered, []
        jobs = [job for creation, _written in gathered for job in creation.jobs]
        writing = asyncio.ensure_future(write(self.queue, Creation(jobs)))
        self._writing.add(writing)
        writing.add_done_callback(self._writing.discard)
        writing.add_done_callback(lambda done: _share_out(done, gathered))


def _share_out(writing: asyncio.Future, gathered: list[Waiting]) -> None:
    """Each request's record from a shared call, or its error; nothing for a request gone."""
    for index, (_creation, written) in enumerate(gathered):
        if written.done():  # its request went away: the client hung up
            continue
        if writing.cancelled():
            written.cancel()
        elif writing.exception() is not None:
            written.set_exception(writing.exception())
        else:
            created, records = writing.result()
            # One job a creation: the call's records are in their order.
            written.set_result((created, records[index]))
