"""Server-Sent Events framing: what a browser's EventSource reads."""

from __future__ import annotations

import json
from typing import Any

import falcon
from falcon.asgi import SSEvent

#: Sent first: how long, in milliseconds, a browser waits before reconnecting.
RECONNECT = SSEvent(retry=1000)
#: A comment line: keeps proxies from closing a quiet stream.
KEEPALIVE = SSEvent(comment="keep-alive")


def frame(event_id: str, kind: str, data: Any) -> SSEvent:
    """One event, with its id (a browser resumes after it with Last-Event-ID)."""
    return SSEvent(event_id=event_id, event=kind, text=json.dumps(data, separators=(",", ":")))


def open_stream(resp: falcon.Response) -> None:
    """Make ``resp`` an event stream, passed on at once by any proxy on the way."""
    resp.content_type = "text/event-stream"
    resp.cache_control = ["no-cache"]
    # Tell proxies that buffer by default (nginx) to pass events on at once.
    resp.set_header("X-Accel-Buffering", "no")
