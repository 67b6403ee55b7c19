"""The OpenAPI 3.1 document, built from the operations the routes declare.

Each resource declares its operations (``contract.Operation``) with the
models that also read its requests and shape its responses; this module only
walks the routes and turns models into JSON Schema. A route without
operations, or a responder without one, fails the build, so nothing served
goes unpublished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon
from pydantic import BaseModel

from .contract import Access, Operation, Response, operation_of
from .errors import PROBLEM_JSON
from .models import Problem

_RESPONDERS = {
    "on_get": "get",
    "on_head": "head",
    "on_post": "post",
    "on_put": "put",
    "on_delete": "delete",
}
#: Every operation may answer 503.
_UNAVAILABLE = "Redis is unreachable, or the instance is busy; retry later"
#: How operations that need an API key say so.
_API_KEY = {"apiKey": {"type": "http", "scheme": "bearer", "description": "One of API_KEYS."}}
_UNAUTHORIZED = "No API key, or not one of API_KEYS"


def build(
    routes: list[tuple[str, object]],
    *,
    title: str,
    version: str,
    needs_key: Callable[[Access], bool] = lambda access: False,
) -> dict[str, Any]:
    """The document; operations for which ``needs_key`` says so are marked as needing a key."""
    paths: dict[str, Any] = {}
    guarded = False
    for path, resource in routes:
        operations = getattr(resource, "operations", None)
        if operations is None:
            raise ValueError(f"{type(resource).__name__} at {path} declares no operations")
        item = {}
        for responder, method in _RESPONDERS.items():
            if not hasattr(resource, responder):
                continue
            operation = operation_of(resource, method)
            if operation is None:
                raise ValueError(f"{type(resource).__name__}.{responder} is not declared")
            item[method] = described = describe(operation, _path_fields(path))
            if method == "head":
                described["summary"] = f"{operation.summary}: its headers alone"
                for response in described["responses"].values():
                    response.pop("content", None)
            if needs_key(operation.access):
                guarded = True
                described["security"] = [{name: []} for name in _API_KEY]
                described["responses"]["401"] = _response(_UNAUTHORIZED)
        paths[path] = item
    document = {"openapi": "3.1.0", "info": {"title": title, "version": version}, "paths": paths}
    if guarded:
        document["components"] = {"securitySchemes": _API_KEY}
    return document


def describe(operation: Operation, path_fields: list[str]) -> dict[str, Any]:
    """One operation as OpenAPI says it."""
    described: dict[str, Any] = {"summary": operation.summary}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_fields
    ]
    parameters += _parameters(operation.query, "query") + _parameters(operation.headers, "header")
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        described["requestBody"] = {
            "required": True,
            "content": {falcon.MEDIA_JSON: {"schema": schema(operation.body, "validation")}},
        }
    responses = {**operation.responses, 503: _UNAVAILABLE}
    described["responses"] = {
        str(status): _response(response) for status, response in sorted(responses.items())
    }
    return described


def schema(model: type[BaseModel], mode: str = "serialization") -> dict[str, Any]:
    """The JSON Schema of ``model``, self-contained (no references) as each use in OpenAPI needs."""
    document = model.model_json_schema(mode=mode)
    definitions = document.pop("$defs", {})
    return _inline(document, definitions)


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: value for key, value in node.items() if not _noise(key, value)}
    if "$ref" in node:
        rest = {key: value for key, value in node.items() if key != "$ref"}
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return _inline({**target, **rest}, definitions)
    return {key: _inline(value, definitions) for key, value in node.items()}


def _noise(key: str, value: Any) -> bool:
    """What pydantic adds that a contract does not need: titles, and null defaults."""
    return (key == "title" and isinstance(value, str)) or (key == "default" and value is None)


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    properties = schema(model, "validation")["properties"]
    parameters = []
    for name, declared in model.model_fields.items():
        name = declared.alias or name
        parameter = {"name": name, "in": where, "schema": _given(properties[name])}
        if declared.is_required():
            parameter["required"] = True
        if declared.description:
            parameter["description"] = declared.description
        parameters.append(parameter)
    return parameters


def _given(parameter: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema as sent: an absent parameter is left out, never null."""
    choices = [choice for choice in parameter.pop("anyOf", []) if choice != {"type": "null"}]
    return {**choices[0], **parameter} if len(choices) == 1 else parameter


def _response(response: Response | str) -> dict[str, Any]:
    if isinstance(response, str):
        return {
            "description": response,
            "content": {PROBLEM_JSON: {"schema": schema(Problem, "validation")}},
        }
    if response.model is None and response.schema is None:
        return {"description": response.description}
    body = response.schema if response.model is None else schema(response.model)
    return {"description": response.description, "content": {response.media_type: {"schema": body}}}


def _path_fields(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


class OpenAPIDocument:
    operations = {
        "get": Operation(
            "This document", {200: Response("The OpenAPI document", schema={"type": "object"})}
        )
    }

    def __init__(self) -> None:
        self.document: dict[str, Any] = {}

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.document
