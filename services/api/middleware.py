"""Request and response handling shared by every route."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

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


class AccessLog:
    """One structured line per request on the ``jobqueue.access`` logger, as JSON.

    Who asked (the client's address, as the load balancer forwards it), what,
    the answer's status, how long until it started (ms), which instance
    answered, and the job it concerned where there is one: the job of the
    path, or the one a submission made. A health check that passes is logged
    at DEBUG only: the load balancer asks several times a second, and its
    lines would bury everyone else's.
    """

    #: The routes probes ask: their passing answers are not news.
    PROBES = frozenset({"/healthz", "/readyz"})

    def __init__(self, instance_name: str, logger: logging.Logger | None = None):
        self.instance_name = instance_name
        self.logger = logger or logging.getLogger("jobqueue.access")

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.started = time.monotonic()

    async def process_response(self, req, resp, resource, req_succeeded) -> None:
        quiet = req.uri_template in self.PROBES and resp.status_code < 400
        level = logging.DEBUG if quiet else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        started = getattr(req.context, "started", None)
        job_id = (req.context.get("params") or {}).get("job_id")
        if job_id is None and resp.location and resp.location.startswith("/jobs/"):
            job_id = resp.location.removeprefix("/jobs/")
        forwarded = req.get_header("X-Forwarded-For")
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "instance": self.instance_name,
            "client": forwarded.split(",")[0].strip() if forwarded else req.remote_addr,
            "method": req.method,
            "path": req.path,
            "route": req.uri_template,
            "status": resp.status_code,
            "ms": None if started is None else round((time.monotonic() - started) * 1000, 1),
            "job_id": job_id,
        }
        self.logger.log(level, json.dumps(line))

    async def process_resource(self, req, resp, resource, params) -> None:
        req.context.params = params
