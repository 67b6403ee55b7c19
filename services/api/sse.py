"""Server-Sent Events framing: what a browser's EventSource reads."""

from __future__ import annotations

import json
from typing import Any

#: Sent first: how long, in milliseconds, a browser waits before reconnecting.
RECONNECT = b"retry: 1000\n\n"
#: A comment line: keeps proxies from closing a quiet stream.
KEEPALIVE = b": keep-alive\n\n"


def frame(event_id: str, kind: str, data: Any) -> bytes:
    """One event, with its id (a browser resumes after it with Last-Event-ID)."""
    payload = json.dumps(data, separators=(",", ":"))
    return f"id: {event_id}\nevent: {kind}\ndata: {payload}\n\n".encode()
