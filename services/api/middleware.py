"""Request and response handling shared by every route."""

from __future__ import annotations

import io

import falcon


class InstanceHeader:
    """Name the instance that served each response, so a balancer's work can be seen."""

    header = "X-Served-By"

    def __init__(self, instance_name: str):
        self.instance_name = instance_name

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        resp.set_header(self.header, self.instance_name)


class RequestSizeLimit:
    """Refuse bodies larger than the limit before anyone reads them.

    A chunked body (Transfer-Encoding, no Content-Length) is read here, no further than one byte
    past the limit, from the server's own stream when the server ends it
    (gunicorn does); the rest of the app then sees it with its length, as
    any other body.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length
        # gunicorn ends every request's stream; only a chunked one has a body to read.
        chunked = req.get_header("Transfer-Encoding") is not None
        if length is None and chunked and req.env.get("wsgi.input_terminated"):
            body = req.stream.read(self.max_bytes + 1)
            length = len(body)
            req.env["wsgi.input"] = io.BytesIO(body)
            req.env["CONTENT_LENGTH"] = str(length)
        if length is not None and length > self.max_bytes:
            raise falcon.HTTPContentTooLarge(
                description=f"request bodies are limited to {self.max_bytes} bytes"
            )
