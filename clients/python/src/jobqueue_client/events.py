"""Following a job's Server-Sent Events, across reconnections, for both clients.

A stream ends after a while (the service's STREAM_SECONDS) or when a
connection drops; :class:`Follow` asks again from the last event it saw
(``Last-Event-ID``) until the job has ended, so that no event is missed or
seen twice.
"""

from __future__ import annotations

import httpx

from .errors import RateLimited, Unavailable, error_for
from .exchanges import Retries, Send
from .models import Event, JobEvent

#: Longest silence on a stream before the connection counts as lost. The
#: service says it is still there every 15 seconds.
READ_TIMEOUT_SECONDS = 60.0


class Follow:
    """What to ask for next, and the events read so far, of one job's stream."""

    def __init__(self, job_id: str, retries: Retries, after: str | None = None):
        self.job_id = job_id
        self.retries = retries
        self.last_id = after
        #: The job has ended and its last event was delivered.
        self.done = False
        self.failures = 0
        self._fields: dict[str, str] = {}
        self._data: list[str] = []

    def send(self) -> Send:
        headers = {"Accept": "text/event-stream"}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        return Send("GET", f"/jobs/{self.job_id}/events", headers=headers)

    def opened(self, response: httpx.Response) -> float | None:
        """Whether to read ``response`` (None), or the seconds to wait before asking again.

        204 means the job ended before the last event seen; an error is raised.
        """
        if response.status_code == 204:
            self.done = True
            return None
        if response.is_success:
            self.failures = 0
            return None
        response.read()
        error = error_for(response)
        if isinstance(error, RateLimited | Unavailable):
            return self.failed(error) if error.retry_after is None else error.retry_after
        raise error

    def failed(self, error: Exception) -> float:
        """Seconds to wait before connecting again; ``error`` once that has failed too often."""
        self.failures += 1
        if self.failures >= self.retries.attempts:
            raise error
        return self.retries.delay(self.failures - 1)

    def line(self, line: str) -> Event | None:
        """Read one line of the stream; the event it completes, if any."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name in ("id", "event"):
            self._fields[name] = value
        return None

    def _dispatch(self) -> Event | None:
        fields, data = self._fields, self._data
        self._fields, self._data = {}, []
        if not data:
            return None
        event_id = fields.get("id") or self.last_id or ""
        self.last_id = event_id
        event = Event(
            id=event_id,
            kind=fields.get("event", "message"),
            data=JobEvent.model_validate_json("\n".join(data)),
        )
        if event.data.state.ended:
            self.done = True
        return event
