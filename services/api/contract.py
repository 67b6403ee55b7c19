"""Operations declared once: the models that read a request are the ones ``/openapi.json`` shows.

A resource lists its operations (``operations = {"get": Operation(...)}``);
its responders read their inputs through them, and ``openapi.py`` describes
them. A request that does not fit is refused with a problem document naming
the first thing wrong: 400 for parameters and headers, 422 for the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import falcon
import falcon.asgi
from pydantic import BaseModel, ValidationError

from .errors import unprocessable


@dataclass(frozen=True)
class Response:
    """A documented response: a JSON ``model``, or a ``schema`` in another ``media_type``.

    An event stream names its ``events`` (the SSE event names it sends);
    ``model`` is then what each event's data is.
    """

    description: str
    model: type[BaseModel] | None = None
    media_type: str = falcon.MEDIA_JSON
    schema: dict[str, Any] | None = None
    events: tuple[str, ...] = ()


class Access(StrEnum):
    """Who may call an operation when API keys are set (``API_KEYS``)."""

    #: Health checks: the load balancer asks without a key.
    OPEN = "open"
    #: Reads: a key is needed only with ``API_KEYS_FOR_READS``.
    READ = "read"
    #: Submitting, cancelling, retrying: a key is needed whenever keys are set.
    WRITE = "write"


@dataclass(frozen=True)
class Operation:
    """What one HTTP method of a resource takes and answers.

    ``responses`` by status: a :class:`Response`, or the description of a
    problem document. ``body``, ``query`` and ``headers`` are the models its
    inputs are read with. ``access`` says whether it needs an API key.
    """

    summary: str
    responses: dict[int, Response | str]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None
    access: Access = Access.READ

    async def read_body(self, req: falcon.asgi.Request) -> Any:
        """The JSON body, as ``body`` reads it; 415, 400, 413 or 422 when it cannot be."""
        media_type = (req.content_type or "").split(";")[0].strip().lower()
        if media_type != falcon.MEDIA_JSON:
            raise falcon.HTTPUnsupportedMediaType(description="send the body as application/json")
        # Media types are case-insensitive (RFC 9110); Falcon's handler lookup is not.
        req.content_type = falcon.MEDIA_JSON
        try:
            return self.body.model_validate(await req.get_media())
        except ValidationError as error:
            raise unprocessable(_explain(error.errors()[0], "the body")) from None

    def read_query(self, req: falcon.Request) -> Any:
        return _read(self.query, req.params, "Invalid parameter")

    def read_headers(self, req: falcon.Request) -> Any:
        values = {}
        for name, declared in self.headers.model_fields.items():
            value = req.get_header(declared.alias or name)
            if value is not None:
                values[declared.alias or name] = value
        return _read(self.headers, values, "Invalid header")


def state_change(
    summary: str, status: int, done: Response, missing: str, refused: str
) -> Operation:
    """An operation that moves a job or a workflow on (cancel, retry): ``done`` with ``status``,
    404 ``missing`` when there is none, 409 ``refused`` when its state refuses the move."""
    return Operation(
        summary, responses={status: done, 404: missing, 409: refused}, access=Access.WRITE
    )


def answer_head(resource: object) -> None:
    """Let ``resource`` answer HEAD as it answers GET, its headers without its body.

    Not for an event stream, whose GET holds the request open, nor for a GET
    that submits something (``/template``): HEAD stays 405 there.
    """
    get = getattr(resource, "operations", {}).get("get")
    if get is None or hasattr(resource, "on_head") or get.access is Access.WRITE:
        return
    streams = [response for response in get.responses.values() if isinstance(response, Response)]
    if any(response.events for response in streams):
        return
    resource.on_head = resource.on_get


def operation_of(resource: object, method: str) -> Operation | None:
    """The declared operation ``method`` runs on ``resource``: HEAD runs GET's."""
    operations = getattr(resource, "operations", {})
    return operations.get(method) or (operations.get("get") if method == "head" else None)


def _read(model: type[BaseModel], values: dict[str, Any], title: str) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise falcon.HTTPBadRequest(title=title, description=_explain(error.errors()[0])) from None


def _explain(error: dict[str, Any], whole: str = "") -> str:
    """One validation error as a sentence naming where it is, as JSON Schema validators say it."""
    # Pydantic names the member of a union that failed ("constrained-float"):
    # where a value is, for a client, is the fields and indexes alone.
    parts = [str(part) for part in error["loc"]]
    loc = [part for part in parts if not _PYDANTIC_TAG.fullmatch(part)]
    kind, given = error["type"], error["input"]
    if kind in ("missing", "extra_forbidden"):
        # The property's own name, whatever it looks like ("x-extra" would pass for a tag).
        *path, name = parts
        where = "/".join(part for part in path if not _PYDANTIC_TAG.fullmatch(part)) or whole
        complaint = (
            f"{name!r} is a required property"
            if kind == "missing"
            else f"Additional properties are not allowed ({name!r} was unexpected)"
        )
        return f"{where}: {complaint}"
    where = "/".join(loc) or whole
    if kind in ("literal_error", "enum"):
        choices = error["ctx"]["expected"].replace(" or ", ", ")
        return (
            f"{where}: {given!r} is not one of [{choices}]"
            if whole
            else f"{where} must be one of {choices}"
        )
    json_type = _JSON_TYPES.get(kind)
    if json_type:
        return f"{where}: {given!r} is not of type {json_type!r}"
    return f"{where}: {error['msg']}"


#: How pydantic names a union's members in an error's location: lower-case words
#: joined by hyphens ("constrained-float"), or a type with parameters ("list[int]").
_PYDANTIC_TAG = re.compile(r"[a-z]+(-[a-z]+)+(\[.*\])?|\w+\[.*\]")

#: Pydantic's errors for a value of the wrong type, and the JSON type that was expected.
_JSON_TYPES = {
    "model_type": "object",
    "dict_type": "object",
    "list_type": "array",
    "int_type": "integer",
    "float_type": "number",
    "string_type": "string",
    "bool_type": "boolean",
}


#: How reading a JSON body can fail, for operations that take one.
BODY_ERRORS: dict[int, Response | str] = {
    400: "The body is not valid JSON, or a header is invalid",
    413: "The body is larger than the limit",
    415: "The body is not application/json",
    422: "No such public job, or the arguments or options do not fit it",
}
