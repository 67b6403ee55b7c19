"""What the console answers a request it refuses: a page for a browser, else a problem document.

A browser, which asks for HTML before JSON, is shown a page in the console's
look (dramatiq-dashboard's ``_base.html``, with the console's navigation)
saying what is wrong and where to go from there. Any other client, one that
asks for JSON or for anything (``*/*``), gets the RFC 9457 problem document
the API answers. Both keep the status and its headers (``Retry-After``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import falcon
import jinja2
from dramatiq_dashboard.http import Request

from services.api import errors

#: What a refused client may ask for; on a tie the first wins, so ``*/*`` gets JSON.
_ANSWERS = (errors.PROBLEM_JSON, "application/json", "text/html")
#: Where a page of each part of the console leads back to: (label, path below /admin/).
_LISTS = {
    "jobs": ("All jobs", "jobs"),
    "schedules": ("All schedules", "schedules"),
    "workflows": ("All workflows", "workflows"),
}


class Problems:
    """Answers refusals, as an HTML page or as a problem document, by what the client accepts.

    Parameters:
      templates: the dashboard's templates (dramatiq-dashboard's, extended).
      page_headers: what every HTML page of the console's own is sent with
        (its Content-Security-Policy).
    """

    def __init__(self, templates: jinja2.Environment, page_headers: Iterable[tuple[str, str]]):
        self.templates = templates
        self.page_headers = list(page_headers)

    def answer(
        self, environ: dict, start_response: Callable, status: str, detail: str, headers=()
    ) -> list[bytes]:
        """Answer ``status`` (``"404 Not Found"``) with ``detail`` and ``headers``."""
        document = errors.problem(int(status.split()[0]), detail)
        if prefers_html(environ):
            body = self._page(environ, document, dict(headers).get("Retry-After")).encode()
            kind, headers = "text/html; charset=utf-8", [*headers, *self.page_headers]
        else:
            body, kind = json.dumps(document).encode(), errors.PROBLEM_JSON
        start_response(
            status, [("Content-Type", kind), ("Content-Length", str(len(body))), *headers]
        )
        return [body]

    def _page(self, environ: dict, document: dict, retry_after: str | None) -> str:
        part = environ.get("PATH_INFO", "").strip("/").split("/")[0]
        return self.templates.get_template("problem.html").render(
            request=Request.from_environ(environ),
            problem=document,
            retry_after=retry_after,
            ways_on=[_LISTS[part]] if part in _LISTS else [],
        )


def prefers_html(environ: dict) -> bool:
    """Whether the client asks for HTML over JSON, as a browser does."""
    try:
        return falcon.mediatypes.best_match(_ANSWERS, environ.get("HTTP_ACCEPT", "*/*")) == (
            "text/html"
        )
    except ValueError:  # an Accept header that is not one
        return False
