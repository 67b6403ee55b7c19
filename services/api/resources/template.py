"""``/template``: a page that enqueues a document to render and shows its job live."""

from __future__ import annotations

import falcon
import jinja2
from jinja2.utils import htmlsafe_json_dumps

from actors.job_request import JobRequest
from actors.states import TERMINAL_STATES, State

from ..contract import Access, Operation, Response
from ..models import DocumentQuery, followed
from ..submissions import Submissions


class Template:
    operations = {
        "get": Operation(
            "Render a document in a worker, and watch it happen",
            query=DocumentQuery,
            responses={
                202: Response(
                    "A page showing the job, live",
                    media_type="text/html",
                    schema={"type": "string"},
                ),
                400: "A field is too long",
            },
            # It submits a job, as POST /jobs does.
            access=Access.WRITE,
        )
    }

    def __init__(self, submissions: Submissions, pages: jinja2.Environment):
        self.submissions = submissions
        self.page = pages.get_template("template.html")
        # What the page's script needs of the lifecycle: the same for every page,
        # so turned into JSON once rather than by every render, and one
        # variable, one value the page escapes (a call each) rather than two.
        self.lifecycle = dict(
            lifecycle=htmlsafe_json_dumps(
                {"ended": sorted(TERMINAL_STATES), "success": State.SUCCEEDED}
            )
        )

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = self.operations["get"].read_query(req)
        # The fields given, read as they are: model_dump would walk them through
        # pydantic's serializer, for short strings that are what they will be.
        fields = {name: value for name, value in vars(query).items() if value is not None}
        _created, record = await self.submissions.submit(
            JobRequest(actor="render_document", kwargs=fields)
        )
        # What the page shows of the record: not the whole of it, as GET /jobs/{id} does.
        shown = followed(record)
        resp.status = falcon.HTTP_202
        resp.location = shown["record"]
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self.page.render_page(
            {**self.lifecycle, **shown, "fields": list(fields.items())}
        )
