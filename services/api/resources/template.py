"""``/template``: the seed's page. It enqueues a document to render and shows the job live."""

from __future__ import annotations

import falcon
import jinja2

from actors import Queue
from actors.submission import JobRequest, submit

from ..openapi import problem
from ..views import job_view

#: The fields of the document the job renders, taken from the query string.
DOCUMENT_FIELDS = ("title", "name", "message")
MAX_FIELD_LENGTH = 500


class Template:
    openapi = {
        "get": {
            "summary": "Render a document in a worker, and watch it happen",
            "parameters": [
                {
                    "name": name,
                    "in": "query",
                    "schema": {"type": "string", "maxLength": MAX_FIELD_LENGTH},
                }
                for name in DOCUMENT_FIELDS
            ],
            "responses": {
                "202": {
                    "description": "A page showing the job, live",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                "400": problem("A field is too long"),
            },
        }
    }

    def __init__(self, queue: Queue, pages: jinja2.Environment):
        self.queue = queue
        self.page = pages.get_template("template.html")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        fields = {}
        for name in DOCUMENT_FIELDS:
            value = req.get_param(name)
            if value is None:
                continue
            if len(value) > MAX_FIELD_LENGTH:
                raise falcon.HTTPBadRequest(
                    title="Invalid parameter",
                    description=f"{name} is limited to {MAX_FIELD_LENGTH} characters",
                )
            fields[name] = value
        _created, record = submit(self.queue, JobRequest(actor="render_document", kwargs=fields))
        resp.status = falcon.HTTP_202
        resp.location = f"/jobs/{record['id']}"
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self.page.render(job=job_view(record), fields=fields)
