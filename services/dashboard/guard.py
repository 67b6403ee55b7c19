"""Clear 4xx answers to input dramatiq-dashboard would fail on, and 503 without Redis or room in it.

dramatiq-dashboard trusts its input: a cursor that is not a number, a queue
name with a newline, a form without its fields or not in UTF-8 all end in a
traceback and a 500. This checks every input it reads before it reads it,
and answers what is wrong as ``problems.py`` does: a page naming it for a
browser, an RFC 9457 problem document for any other client.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable
from typing import TypeVar
from urllib.parse import parse_qsl

import dramatiq
import redis
from dramatiq.common import q_name

from actors.schedules.definition import NAME_PATTERN
from services.api import errors
from services.api.models import MAX_REDIS_NUMBER, stream_id

from .auth import WSGIApp
from .problems import Problems

logger = logging.getLogger(__name__)

#: A queue name as dramatiq allows it (``dramatiq.actor``), which covers the
#: ``.DQ`` and ``.XQ`` names of its delay and dead-letter queues too.
QUEUE_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9._-]*")
#: A message id in Redis: a UUID; a little looser, but never a character
#: that could break a header or a page.
MESSAGE_ID = re.compile(r"[a-zA-Z0-9_.-]{1,128}")
WHOLE_NUMBER = re.compile(r"[0-9]{1,20}")
CSRF_TOKEN = re.compile(r"[0-9a-f]{64}")
#: A schedule's name, as schedules allow it.
SCHEDULE_NAME = re.compile(NAME_PATTERN.strip("^$"))
T = TypeVar("T")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CSRF_COOKIE = re.compile(r"(?:^|;)\s*__dd_csrf=([^;]*)")

#: The fields each form needs, by the first segment of the path it posts to.
FORMS = {
    "requeue-message": {"queue": QUEUE_NAME, "id": MESSAGE_ID},
    "delete-message": {"queue": QUEUE_NAME, "id": MESSAGE_ID},
    "dead-letters": {"dead_before": WHOLE_NUMBER},
}
#: Far above any form the dashboard renders.
MAX_FORM_BYTES = 16 * 1024


class BadRequest(Exception):
    """The request cannot be served as it is; ``status`` and ``detail`` say why."""

    def __init__(self, detail: str, status: str = "400 Bad Request"):
        super().__init__(detail)
        self.detail = detail
        self.status = status


def only_get(req) -> None:
    if req.method not in ("GET", "HEAD"):
        raise BadRequest("expected GET", "405 Method Not Allowed")


def only_post(req) -> None:
    if req.method != "POST":
        raise BadRequest("expected POST", "405 Method Not Allowed")


def found(record: T | None, called: str) -> T:
    """``record`` of the job or workflow ``called`` ("job 42"); 404 when there is none."""
    if record is None:
        raise BadRequest(f"there is no {called} (or it has expired)", "404 Not Found")
    return record


def declared_queue(broker: dramatiq.Broker, name: str) -> None:
    """404 unless ``broker`` declares the queue ``name`` (or the one its delayed or dead are)."""
    if q_name(name) not in broker.get_declared_queues():
        raise BadRequest(f"there is no queue {name}", "404 Not Found")


def acted(called: str, applied: bool, before: str | None, refusal: str) -> None:
    """404 when there was no ``called``, 409 naming its state when the action was refused."""
    if before is None:
        raise BadRequest(f"there is no {called}", "404 Not Found")
    if not applied:
        raise BadRequest(f"{called} is {before}: {refusal}", "409 Conflict")


def guarded(
    app: WSGIApp, environ: dict, start_response: Callable, problems: Problems
) -> Iterable[bytes]:
    """Serve ``environ`` (its prefix stripped) with ``app`` once its inputs are checked.

    What the checks or a page refuse, dramatiq-dashboard's own refusals, a
    Redis that is away or full and a page that fails are answered by
    ``problems``: a page in the console's look for a browser, else a problem
    document.
    """
    try:
        return _refusals_raised(app, checked(environ), start_response)
    except BadRequest as error:
        # Raised before the app started its response: by the checks, or by a page.
        return problems.answer(environ, start_response, error.status, error.detail)
    except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.OutOfMemoryError) as error:
        detail, retry_after = (
            (errors.FULL, errors.FULL_RETRY_AFTER)
            if isinstance(error, redis.exceptions.OutOfMemoryError)
            else (errors.UNREACHABLE, errors.REDIS_RETRY_AFTER)
        )
        return problems.answer(
            environ,
            start_response,
            "503 Service Unavailable",
            detail,
            headers=[("Retry-After", str(retry_after))],
        )
    except Exception:
        logger.exception("The page %s failed", environ.get("PATH_INFO"))
        return problems.answer(
            environ,
            start_response,
            "500 Internal Server Error",
            "the page failed; its log says why",
        )


def _refusals_raised(app: WSGIApp, environ: dict, start_response: Callable) -> Iterable[bytes]:
    """``app``'s answer; a refusal as text (dramatiq-dashboard's "Not Found") raised as BadRequest.

    dramatiq-dashboard's pages answer what they refuse (no such page, a
    method they do not take, a message gone, a CSRF token that does not
    match) with the status's text alone, as HTML; the console's pages raise
    BadRequest instead. So an answer of 400 or more in HTML is such a
    refusal: its start is held back, and its text becomes the detail, or
    what the status means here where the text says no more than the status.
    """
    refused: list[str] = []
    written: list[bytes] = []

    def start(status: str, headers: list, *args):
        kind = {name.lower(): value for name, value in headers}.get("content-type", "")
        if int(status[:3]) >= 400 and kind.startswith("text/html"):
            refused.append(status)
            return written.append
        return start_response(status, headers, *args)

    answer = app(environ, start)
    if not refused:
        return answer
    status = refused[0]
    text = b"".join([*written, *answer]).decode(errors="replace").strip()
    if text in ("", status[4:]):
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        text = _MEANINGS.get(status[:3], text or status).format(path=path)
    raise BadRequest(text, status)


#: What a bare status of dramatiq-dashboard's means in the console.
_MEANINGS = {
    "404": "there is no page {path}",
    "403": "the form's CSRF token does not match its cookie: reload the page and try again",
}


def checked(environ: dict) -> dict:
    """``environ`` with its form read and its CSRF cookie cleaned; raises :class:`BadRequest`."""
    path = environ.get("PATH_INFO", "")
    if _CONTROL.search(path):
        raise BadRequest("the path contains control characters")
    segments = path.strip("/").split("/")
    if segments[0] in ("queues", "dead-letters") and len(segments) > 1:
        _match(QUEUE_NAME, segments[1], "queue name")
    if segments[0] == "queues" and len(segments) > 3:
        _match(MESSAGE_ID, segments[3], "message id")
    if segments[0] == "jobs" and len(segments) > 1:
        _match(MESSAGE_ID, segments[1], "job id")
    if segments[0] == "workflows" and len(segments) > 1:
        _match(MESSAGE_ID, segments[1], "workflow id")
    if segments[0] == "schedules" and len(segments) > 1:
        _match(SCHEDULE_NAME, segments[1], "schedule name")
    # Positions in a list or a stream: the job pages' are stream ids (the
    # list's cursor, the first event a job's page follows from), and so
    # are the workflow pages'; dramatiq-dashboard's are scan cursors.
    streams = segments[0] in ("jobs", "workflows")
    for name, value in parse_qsl(environ.get("QUERY_STRING", "")):
        if streams and name in ("cursor", "after"):
            try:
                stream_id(value)
            except ValueError as error:
                raise BadRequest(f"{name} {value!r} is not valid: {error}") from None
        elif name == "cursor":
            _match(WHOLE_NUMBER, value, name)
            if int(value) > MAX_REDIS_NUMBER:
                raise BadRequest(f"{name} {value} is out of range")
    environ = {**environ, **_csrf_cookie(environ.get("HTTP_COOKIE", ""))}
    if environ.get("REQUEST_METHOD") == "POST":
        environ.update(_form(environ, FORMS.get(segments[0], {})))
    return environ


def _match(pattern: re.Pattern, value: str, what: str) -> None:
    if not pattern.fullmatch(value):
        raise BadRequest(f"{what} {value!r} is not valid (expected {pattern.pattern})")


def _csrf_cookie(header: str) -> dict:
    """The CSRF cookie alone, if well formed: dramatiq-dashboard echoes it into pages."""
    tokens = [token for token in _CSRF_COOKIE.findall(header) if CSRF_TOKEN.fullmatch(token)]
    return {"HTTP_COOKIE": f"__dd_csrf={tokens[0]}" if tokens else ""}


def _form(environ: dict, fields: dict[str, re.Pattern]) -> dict:
    """The form body, checked for ``fields``, as a fresh ``wsgi.input``."""
    length = environ.get("CONTENT_LENGTH") or "0"
    if not WHOLE_NUMBER.fullmatch(length):
        raise BadRequest(f"Content-Length {length!r} is not a number")
    if int(length) > MAX_FORM_BYTES:
        raise BadRequest(f"the form is larger than {MAX_FORM_BYTES} bytes", "413 Content Too Large")
    body = environ["wsgi.input"].read(int(length))
    try:
        form = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:
        raise BadRequest("the form is not URL-encoded UTF-8") from None
    for name, pattern in fields.items():
        if name not in form:
            raise BadRequest(f"the form has no {name!r} field")
        _match(pattern, form[name], f"form field {name!r}")
    return {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
