"""Every error the API and the dashboard return is a JSON problem document (RFC 9457)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import falcon
import falcon.asgi
import redis

from actors.replication import NotReplicated

from . import media

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
#: Seconds a client is asked to wait before trying again when Redis is away.
REDIS_RETRY_AFTER = 5
#: What a client is told when Redis cannot be reached or does not answer. A change
#: a request asks for is one script, run whole or not at all; which of the two, the
#: API cannot know when Redis stopped answering after the call went out.
UNREACHABLE = (
    "the job store (Redis) is unreachable or did not answer in time; try again shortly. "
    "What this request asked for was done whole or not at all: resend a submission "
    "with the same Idempotency-Key to have it made once"
)
#: Seconds a client is asked to wait when Redis is full: room comes as jobs end and expire.
FULL_RETRY_AFTER = 30
#: What a client is told when Redis refuses a write for want of memory.
FULL = "the job store is full (Redis reached its maxmemory); nothing was changed, try again later"
#: Seconds a client is asked to wait when this instance holds all the long requests it may.
BUSY_RETRY_AFTER = 2


#: RFC 9110's names where Python's differ.
_PHRASES = {413: "Content Too Large", 422: "Unprocessable Content"}


def problem(status: int, detail: str | None = None, title: str | None = None) -> dict[str, Any]:
    """The problem document of ``status``: titled ``title``, else the status's name alone."""
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _PHRASES.get(status) or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        document["detail"] = detail
    return document


def serialize_problem(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    code = error.status_code
    # Falcon's default titles carry the code too ("404 Not Found"), which ``status`` says.
    title = error.title if error.title and not error.title.startswith(f"{code} ") else None
    resp.content_type = PROBLEM_JSON
    resp.media = problem(code, error.description, title)


def redis_unavailable(req: falcon.Request, resp: falcon.Response, error: Exception, params) -> None:
    """A Redis that cannot be reached is a 503 the client may retry, never a 500."""
    logger.warning("Redis unavailable while serving %s %s: %s", req.method, req.path, error)
    raise unavailable(UNREACHABLE)


def not_replicated(req: falcon.Request, resp: falcon.Response, error: Exception, params) -> None:
    """A write no replica confirmed in time is a 503 too, one that says it was made.

    It is on the master, and is lost only if the master dies before a
    replica has it: a client that resends it with its Idempotency-Key gets
    the same job either way.
    """
    logger.warning("No replica confirmed %s %s in time: %s", req.method, req.path, error)
    raise unavailable(
        "the job store's replicas did not confirm this change in time: it was made, but "
        "may be lost if Redis fails over now; resend it with the same Idempotency-Key"
    )


def store_full(req: falcon.Request, resp: falcon.Response, error: Exception, params) -> None:
    """A Redis out of memory refuses writes (maxmemory reached, noeviction): a 503, never a 500."""
    logger.warning("Redis is full while serving %s %s: %s", req.method, req.path, error)
    raise unavailable(FULL, retry_after=FULL_RETRY_AFTER)


def malformed(req: falcon.Request, resp: falcon.Response, error: Exception, params) -> None:
    """A body the JSON handler cannot read (or an empty one) is a 400 that says why."""
    reason = error.__cause__ or "the body is empty"
    raise falcon.HTTPBadRequest(
        title="Malformed JSON", description=f"the body is not valid JSON: {reason}"
    )


def unexpected(req: falcon.Request, resp: falcon.Response, error: Exception, params) -> None:
    if isinstance(error, falcon.HTTPError):
        raise error
    logger.exception("Unexpected error serving %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError(description="an unexpected error occurred")


def install(app: falcon.App) -> None:
    """Answer every error of ``app`` (WSGI or ASGI) with a problem document."""
    # Without a handler of their own for application/problem+json, Falcon
    # cannot serialize them and answers 415 instead.
    app.resp_options.media_handlers[PROBLEM_JSON] = media.handler
    app.set_error_serializer(serialize_problem)
    handle = _awaitable if isinstance(app, falcon.asgi.App) else _as_is
    app.add_error_handler(Exception, handle(unexpected))
    app.add_error_handler(
        (falcon.MediaMalformedError, falcon.MediaNotFoundError), handle(malformed)
    )
    # redis.asyncio raises redis-py's own errors.
    app.add_error_handler((redis.ConnectionError, redis.TimeoutError), handle(redis_unavailable))
    app.add_error_handler(NotReplicated, handle(not_replicated))
    app.add_error_handler(redis.exceptions.OutOfMemoryError, handle(store_full))


def _as_is(handler: Callable) -> Callable:
    return handler


def _awaitable(handler: Callable) -> Callable:
    """``handler`` as a coroutine function, as an ASGI app needs its error handlers."""

    @functools.wraps(handler)
    async def handle(req, resp, error, params) -> None:
        handler(req, resp, error, params)

    return handle


def unavailable(detail: str, retry_after: int = REDIS_RETRY_AFTER) -> falcon.HTTPError:
    return falcon.HTTPServiceUnavailable(description=detail, retry_after=retry_after)


def unprocessable(detail: str) -> falcon.HTTPError:
    return falcon.HTTPUnprocessableEntity(description=detail)


def no_such_job(job_id: str) -> falcon.HTTPError:
    return falcon.HTTPNotFound(description=f"no job {job_id} (or it has expired)")


def no_such_workflow(workflow_id: str) -> falcon.HTTPError:
    return falcon.HTTPNotFound(description=f"no workflow {workflow_id} (or it has expired)")


def unless_applied(applied: bool, before: object, missing: falcon.HTTPError, conflict: str) -> None:
    """Raise what a change of state not applied is: ``missing`` (404) when there was nothing
    to change (``before`` None), else 409 saying ``conflict``: its state refused it."""
    if before is None:
        raise missing
    if not applied:
        raise falcon.HTTPConflict(description=conflict)
