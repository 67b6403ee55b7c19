"""Submitting jobs and following what becomes of them."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from typing import Any

import falcon
import jsonschema

from actors import Queue
from actors.lanes import DEFAULT_PRIORITY
from actors.store import STATES, TERMINAL_STATES
from actors.submission import InvalidJob, JobRequest, retry, submit, submit_many

from .. import schemas
from ..errors import unprocessable
from ..openapi import json_response, problem
from ..streams import StreamSlots
from ..views import job_view

#: How often an event stream says it is still there when nothing happens.
KEEPALIVE_SECONDS = 15
#: A Redis stream id: what cursors and Last-Event-ID are.
_CURSOR = re.compile(schemas.STREAM_ID)
#: Each half of a stream id is an unsigned 64-bit number.
_MAX_ID_PART = 2**64 - 1
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_BODY_ERRORS = {
    "400": problem("The body is not valid JSON, or a header is invalid"),
    "413": problem("The body is larger than the limit"),
    "415": problem("The body is not application/json"),
    "422": problem("No such public job, or the arguments or options do not fit it"),
}


def _stream_id(value: str) -> str | None:
    """``value`` as a stream id Redis accepts, or None; Redis refuses the rest with an error."""
    if not _CURSOR.fullmatch(value):
        return None
    parts = [int(part) for part in value.split("-")]
    if any(part > _MAX_ID_PART for part in parts):
        return None
    return "-".join(map(str, parts))


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON value")


def _finite(text: str) -> float:
    """A JSON number as a float; one too large for a float would come back as Infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


_SUBMISSION = jsonschema.Draft202012Validator(schemas.JOB_SUBMISSION)
_BATCH = jsonschema.Draft202012Validator(schemas.BATCH_SUBMISSION)


def read_json(
    req: falcon.Request, validator: jsonschema.protocols.Validator, max_bytes: int
) -> dict[str, Any]:
    """The request's JSON body, checked by ``validator``; every failure is a clear 4xx."""
    media_type = (req.content_type or "").split(";")[0].strip().lower()  # case-insensitive
    if media_type != "application/json":
        raise falcon.HTTPUnsupportedMediaType(description="send the body as application/json")
    # Falcon's bounded stream reads nothing without a Content-Length; a
    # chunked body is read from the server's own stream when the server ends
    # it (gunicorn does), still no further than one byte past the limit.
    chunked = req.content_length is None and req.env.get("wsgi.input_terminated")
    raw = (req.stream if chunked else req.bounded_stream).read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise falcon.HTTPContentTooLarge(
            description=f"request bodies are limited to {max_bytes} bytes"
        )
    try:
        body = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError) as error:
        raise falcon.HTTPBadRequest(
            title="Malformed JSON", description=f"the body is not valid JSON: {error}"
        ) from None
    errors = sorted(validator.iter_errors(body), key=str)
    if errors:
        error = errors[0]
        where = "/".join(str(part) for part in error.absolute_path) or "the body"
        raise unprocessable(f"{where}: {error.message}")
    return body


def job_request(body: dict[str, Any]) -> JobRequest:
    options = body.get("options", {})
    return JobRequest(
        actor=body["actor"],
        args=body.get("args", []),
        kwargs=body.get("kwargs", {}),
        delay=options.get("delay", 0),
        max_retries=options.get("max_retries"),
        time_limit=options.get("time_limit"),
        priority=options.get("priority", DEFAULT_PRIORITY),
    )


class Jobs:
    """``/jobs``: submit one job, or list jobs newest first."""

    openapi = {
        "post": {
            "summary": "Submit a job",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "schema": {"type": "string", "pattern": _IDEMPOTENCY_KEY.pattern},
                    "description": "Submitting again with the same key returns the first job.",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schemas.JOB_SUBMISSION}},
            },
            "responses": {
                "202": json_response("The job was accepted", schemas.JOB),
                "200": json_response("The job first submitted with this key", schemas.JOB),
                **_BODY_ERRORS,
            },
        },
        "get": {
            "summary": "List jobs, newest first",
            "parameters": [
                {
                    "name": "state",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(STATES)},
                },
                {"name": "actor", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "schema": {"type": "string", "pattern": _CURSOR.pattern},
                },
            ],
            "responses": {
                "200": json_response("A page of jobs", schemas.JOB_LIST),
                "400": problem("A parameter is invalid"),
            },
        },
    }

    def __init__(self, queue: Queue, max_request_bytes: int):
        self.queue = queue
        self.max_request_bytes = max_request_bytes

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = req.get_header("Idempotency-Key")
        if key is not None and not _IDEMPOTENCY_KEY.match(key):
            raise falcon.HTTPBadRequest(
                title="Invalid header",
                description="Idempotency-Key must be 1 to 200 printable ASCII characters",
            )
        request = job_request(read_json(req, _SUBMISSION, self.max_request_bytes))
        try:
            created, record = submit(self.queue, request, idempotency_key=key)
        except InvalidJob as error:
            raise unprocessable(str(error)) from None
        resp.status = falcon.HTTP_202 if created else falcon.HTTP_200
        resp.location = f"/jobs/{record['id']}"
        resp.media = job_view(record)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        state = req.get_param("state")
        if state is not None and state not in STATES:
            raise falcon.HTTPBadRequest(
                title="Invalid parameter", description=f"state must be one of {', '.join(STATES)}"
            )
        limit = req.get_param_as_int("limit", min_value=1, max_value=200, default=50)
        cursor = req.get_param("cursor")
        if cursor is not None and (cursor := _stream_id(cursor)) is None:
            raise falcon.HTTPBadRequest(
                title="Invalid parameter", description="cursor must be a next_cursor value"
            )
        records, next_cursor = self.queue.store.list(
            state=state, actor=req.get_param("actor"), limit=limit, cursor=cursor
        )
        resp.media = {"jobs": [job_view(r) for r in records], "next_cursor": next_cursor}


class JobBatch:
    """``/jobs/batch``: submit many jobs in one request and one round trip to Redis."""

    openapi = {
        "post": {
            "summary": "Submit many jobs at once, all or none",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schemas.BATCH_SUBMISSION}},
            },
            "responses": {
                "202": json_response("Every job was accepted", schemas.BATCH_RESULT),
                **_BODY_ERRORS,
            },
        }
    }

    def __init__(self, queue: Queue, max_request_bytes: int):
        self.queue = queue
        self.max_request_bytes = max_request_bytes

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, _BATCH, self.max_request_bytes)
        requests = [job_request(item) for item in body["jobs"]]
        try:
            records = submit_many(self.queue, requests)
        except InvalidJob as error:
            raise unprocessable(str(error)) from None
        resp.status = falcon.HTTP_202
        resp.media = {"jobs": [job_view(r) for r in records]}


class Job:
    """``/jobs/{job_id}``: one job's record (optionally waiting for it to end), or cancel it."""

    openapi = {
        "get": {
            "summary": "A job's record",
            "parameters": [
                {
                    "name": "wait",
                    "in": "query",
                    "schema": {"type": "number", "minimum": 0},
                    "description": "Seconds to hold the request until the job ends.",
                }
            ],
            "responses": {
                "200": json_response("The job", schemas.JOB),
                "400": problem("wait is not a number of seconds within the limit"),
                "404": problem("No such job"),
            },
        },
        "delete": {
            "summary": "Cancel a job: a queued one never runs, a running one is interrupted",
            "responses": {
                "200": json_response("The job, cancelled", schemas.JOB),
                "404": problem("No such job"),
                "409": problem("The job has already ended"),
            },
        },
    }

    def __init__(self, queue: Queue, slots: StreamSlots, max_wait_seconds: float):
        self.queue = queue
        self.slots = slots
        self.max_wait_seconds = max_wait_seconds

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        wait = req.get_param_as_float("wait", min_value=0, max_value=self.max_wait_seconds)
        record = self._find(job_id)
        if wait and record["state"] not in TERMINAL_STATES:
            with self.slots.hold():
                record = self._wait(job_id, wait)
        resp.media = job_view(record)

    def _find(self, job_id: str) -> dict[str, Any]:
        record = self.queue.store.get(job_id)
        if record is None:
            raise falcon.HTTPNotFound(description=f"no job {job_id} (or it has expired)")
        return record

    def _wait(self, job_id: str, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        # follow() returns once the job has ended, or when time is up.
        for _ in self.queue.store.follow(job_id, block_ms=1000, deadline=deadline):
            pass
        return self._find(job_id)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        applied, before = self.queue.store.transition(
            job_id,
            "cancelled",
            allowed_from=("queued", "delayed", "retrying", "running"),
            fields={"finished_at": int(time.time() * 1000)},
            notify_cancellation=True,
        )
        if before is None:
            raise falcon.HTTPNotFound(description=f"no job {job_id} (or it has expired)")
        if not applied:
            raise falcon.HTTPConflict(description=f"job {job_id} has already ended: {before}")
        resp.media = job_view(self._find(job_id))


class JobRetry:
    """``/jobs/{job_id}/retry``: run a failed or dead job again, under the same id."""

    openapi = {
        "post": {
            "summary": "Retry a failed or dead job",
            "responses": {
                "202": json_response("The job, queued again", schemas.JOB),
                "404": problem("No such job"),
                "409": problem("The job is not failed or dead"),
            },
        }
    }

    def __init__(self, queue: Queue):
        self.queue = queue

    def on_post(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        applied, before = retry(self.queue, job_id)
        if before is None:
            raise falcon.HTTPNotFound(description=f"no job {job_id} (or it has expired)")
        if not applied:
            raise falcon.HTTPConflict(
                description=f"only failed or dead jobs can be retried; job {job_id} is {before}"
            )
        resp.status = falcon.HTTP_202
        resp.location = f"/jobs/{job_id}"
        resp.media = job_view(self.queue.store.get(job_id))


class JobEvents:
    """``/jobs/{job_id}/events``: every state and progress change, as Server-Sent Events."""

    openapi = {
        "get": {
            "summary": "Follow a job: its events as Server-Sent Events, until it ends",
            "parameters": [
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "schema": {"type": "string", "pattern": _CURSOR.pattern},
                    "description": "Resume after this event.",
                }
            ],
            "responses": {
                "200": {
                    "description": "An event stream: `state` and `progress` events",
                    "content": {"text/event-stream": {"schema": schemas.JOB_SSE_EVENT}},
                },
                "204": {
                    "description": "The job has ended and the client has every event"
                    " (EventSource stops reconnecting)"
                },
                "400": problem("Last-Event-ID is not an event id"),
                "404": problem("No such job"),
            },
        }
    }

    def __init__(self, queue: Queue, slots: StreamSlots, stream_seconds: int):
        self.queue = queue
        self.slots = slots
        #: How long one stream lasts; EventSource reconnects with Last-Event-ID.
        self.stream_seconds = stream_seconds

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        record = self.queue.store.get(job_id)
        if record is None:
            raise falcon.HTTPNotFound(description=f"no job {job_id} (or it has expired)")
        after = _stream_id(req.get_header("Last-Event-ID") or "0-0")
        if after is None:
            raise falcon.HTTPBadRequest(
                title="Invalid header", description="Last-Event-ID must be an event id"
            )
        if self.queue.store.ended(job_id, record["state"], after=after):
            # An EventSource reconnecting after the last event would otherwise
            # hold a stream slot for nothing; 204 tells it to stop.
            resp.status = falcon.HTTP_204
            return
        resp.content_type = "text/event-stream"
        resp.cache_control = ["no-cache"]
        # Tell proxies that buffer by default (nginx) to pass events on at once.
        resp.set_header("X-Accel-Buffering", "no")
        resp.stream = self.slots.stream(self._events(job_id, after))

    def _events(self, job_id: str, after: str) -> Iterator[bytes]:
        yield b"retry: 1000\n\n"
        deadline = time.monotonic() + self.stream_seconds
        follow = self.queue.store.follow(
            job_id, after=after, block_ms=KEEPALIVE_SECONDS * 1000, deadline=deadline
        )
        for item in follow:
            if item is None:
                yield b": keep-alive\n\n"
                continue
            event_id, event = item
            kind = "progress" if "progress" in event and event["state"] == "running" else "state"
            data = json.dumps(event, separators=(",", ":"))
            yield f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n".encode()
