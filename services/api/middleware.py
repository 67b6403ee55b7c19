"""Request and response handling shared by every route."""

from __future__ import annotations

import falcon
import falcon.asgi


class InstanceHeader:
    """Name the instance that served each response, so a balancer's work can be seen."""

    header = "X-Served-By"

    def __init__(self, instance_name: str):
        self.instance_name = instance_name

    async def process_response(self, req, resp, resource, req_succeeded) -> None:
        resp.set_header(self.header, self.instance_name)


class RequestSizeLimit:
    """Refuse bodies larger than the limit before anyone reads them.

    A chunked body (Transfer-Encoding, no Content-Length) is read here, no
    further than one byte past the limit; the rest of the app then reads it
    from memory, as any other body.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    async def process_request(self, req: Request, resp: falcon.asgi.Response) -> None:
        length = req.content_length
        if length is None and req.get_header("Transfer-Encoding") is not None:
            body = await req.stream.read(self.max_bytes + 1)
            length = len(body)
            req.read_ahead(body)
        if length is not None and length > self.max_bytes:
            raise falcon.HTTPContentTooLarge(
                description=f"request bodies are limited to {self.max_bytes} bytes"
            )


class Request(falcon.asgi.Request):
    """Falcon's ASGI request, whose body a middleware may read ahead and hand on."""

    _read_ahead: falcon.asgi.BoundedStream | None = None

    def read_ahead(self, body: bytes) -> None:
        """Serve ``body``, already read from the client, as the request's body."""

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        self._read_ahead = falcon.asgi.BoundedStream(receive, content_length=len(body))

    @property
    def stream(self) -> falcon.asgi.BoundedStream:
        return super().stream if self._read_ahead is None else self._read_ahead
