"""The jobs this service runs. ``public=True`` ones may be submitted over HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import jinja2
from pydantic import Field

from .progress import report_progress
from .registry import job

_documents = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    # The templates ship with the code: a worker need not look at their files
    # again for every document it renders.
    auto_reload=False,
)
#: What render_document fills in.
_document = _documents.get_template("document.html")


#: The longest text a job takes in one argument.
MAX_FIELD_LENGTH = 500
ShortText = Annotated[str, Field(max_length=MAX_FIELD_LENGTH)]


class PermanentError(Exception):
    """A failure that retrying cannot fix; the job ends as "failed" at once."""


@job(public=True, max_retries=3)
def render_document(
    title: ShortText = "Hello", name: ShortText = "world", message: ShortText = ""
) -> dict:
    """Render an HTML document from the given fields; the job behind GET /template."""
    # A context of these fields as they are (shared): Template.render would
    # first copy the environment's globals into it, which the document does
    # not use. Autoescaping is the template's own, compiled in.
    context = _document.new_context(
        {
            "title": title,
            "name": name,
            "message": message,
            "rendered_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        shared=True,
    )
    html = "".join(_document.root_render_func(context))
    return {"html": html, "bytes": len(html.encode())}


@job(public=True)
def add(a: float, b: float) -> float:
    """Add two numbers: the smallest job there is, for trying the API."""
    return a + b


@job(public=True)
def total(numbers: Annotated[list[float], Field(max_length=10_000)]) -> float:
    """Add up numbers: a workflow's step after a group of ``add``, say, sums their results."""
    return sum(numbers)


@job(public=True, max_retries=0)
def count_slowly(
    to: Annotated[int, Field(ge=1, le=10_000)] = 10,
    interval: Annotated[float, Field(ge=0.01, le=60)] = 0.5,
) -> int:
    """Count to ``to``, one step every ``interval`` seconds, reporting progress."""
    for step in range(1, to + 1):
        time.sleep(interval)
        report_progress(step / to, f"counted {step} of {to}")
    return to


@job(public=True, max_retries=2, min_backoff=200, max_backoff=1000, throws=PermanentError)
def fail(
    message: ShortText = "this job always fails",
    permanent: bool = False,
) -> None:
    """Always fail: retried and then dead-lettered, or failed at once if ``permanent``."""
    if permanent:
        raise PermanentError(message)
    raise RuntimeError(message)
