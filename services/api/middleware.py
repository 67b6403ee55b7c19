"""Request and response handling shared by every route."""

from __future__ import annotations

import falcon


class InstanceHeader:
    """Name the instance that served each response, so a balancer's work can be seen."""

    header = "X-Served-By"

    def __init__(self, instance_name: str):
        self.instance_name = instance_name

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        resp.set_header(self.header, self.instance_name)


class RequestSizeLimit:
    """Refuse bodies larger than the limit before anyone reads them."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.content_length is not None and req.content_length > self.max_bytes:
            raise falcon.HTTPContentTooLarge(
                description=f"request bodies are limited to {self.max_bytes} bytes"
            )
