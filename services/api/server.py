"""What serves the API in gunicorn: uvicorn's worker, each response written to its socket at once.

uvicorn writes a response's status line and headers, then its body: two
system calls for the smallest answer, two packets, and two reads for the
load balancer that waits for them. The connections of this worker keep what
one turn of the event loop writes and pass it to the socket at the end of
that turn, once: a response that Falcon sends as its start and its body goes
out whole; an event stream's events still go out as they come.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    """uvicorn's gunicorn worker (uvloop, httptools), its connections' writes gathered.

    Without uvicorn's proxy headers middleware, which rewrites each
    request's client address and scheme from the load balancer's
    X-Forwarded-For and X-Forwarded-Proto: the app reads neither from the
    request but X-Forwarded-For, itself (the access log's client). Without
    its ``server: uvicorn`` header, which uvicorn checks and copies into
    every response as one of the app's own, and which tells clients nothing
    they need.
    """

    CONFIG_KWARGS = {
        **UvicornWorker.CONFIG_KWARGS,
        "http": "services.api.server:HttpProtocol",
        "proxy_headers": False,
        "server_header": False,
    }


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol on a transport that writes once a turn of the loop."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(GatheredWrites(transport))


class GatheredWrites:
    """A transport whose writes of one turn of the event loop reach the socket as one."""

    __slots__ = ("_transport", "_unsent")

    def __init__(self, transport: asyncio.Transport):
        self._transport = transport
        self._unsent: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._unsent:
            asyncio.get_running_loop().call_soon(self._flush)
        self._unsent.append(data)

    def _flush(self) -> None:
        if self._unsent:
            unsent, self._unsent = self._unsent, []
            self._transport.write(b"".join(unsent))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
