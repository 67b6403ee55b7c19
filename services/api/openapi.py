"""The OpenAPI 3.1 document, built from the operations the routes declare.

Each resource declares its operations (``contract.Operation``) with the
models that also read its requests and shape its responses; this module only
walks the routes and turns models into JSON Schema. Every model is named once
under ``components/schemas`` and referred to by ``$ref`` wherever it is used,
so generated clients get named types. A route without operations, or a
responder without one, fails the build, so nothing served goes unpublished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import falcon
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .contract import Access, Operation, Response, operation_of
from .errors import PROBLEM_JSON
from .models import Problem, sse_event_schema

_RESPONDERS = {
    "on_get": "get",
    "on_head": "head",
    "on_post": "post",
    "on_put": "put",
    "on_delete": "delete",
}
#: How a ``$ref`` names a model of the document.
REF_TEMPLATE = "#/components/schemas/{model}"
#: Every operation may answer 503.
_UNAVAILABLE = "Redis is unreachable, or the instance is busy; retry later"
#: How operations that need an API key say so.
_API_KEY = {"apiKey": {"type": "http", "scheme": "bearer", "description": "One of API_KEYS."}}
_UNAUTHORIZED = "No API key, or not one of API_KEYS"

#: A model, and whether it is read from requests or written to responses.
Use = tuple[type[BaseModel], JsonSchemaMode]


def build(
    routes: list[tuple[str, object]],
    *,
    title: str,
    version: str,
    needs_key: Callable[[Access], bool] = lambda access: False,
) -> dict[str, Any]:
    """The document; operations for which ``needs_key`` says so are marked as needing a key."""
    declared = list(_declared(routes))
    schemas = Schemas(use for _, _, operation in declared for use in _uses(operation))
    paths: dict[str, Any] = {}
    guarded = False
    for path, method, operation in declared:
        described = paths.setdefault(path, {})[method] = describe(
            operation, _path_fields(path), schemas
        )
        if method == "head":
            described["summary"] = f"{operation.summary}: its headers alone"
            for response in described["responses"].values():
                response.pop("content", None)
        if needs_key(operation.access):
            guarded = True
            described["security"] = [{name: []} for name in _API_KEY]
            described["responses"]["401"] = _response(_UNAUTHORIZED, schemas)
    components: dict[str, Any] = {"schemas": schemas.components}
    if guarded:
        components["securitySchemes"] = _API_KEY
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": components,
    }


def _declared(routes: list[tuple[str, object]]) -> Iterator[tuple[str, str, Operation]]:
    """Each path's methods and the operation each runs; a resource that declares none fails."""
    for path, resource in routes:
        if getattr(resource, "operations", None) is None:
            raise ValueError(f"{type(resource).__name__} at {path} declares no operations")
        for responder, method in _RESPONDERS.items():
            if not hasattr(resource, responder):
                continue
            operation = operation_of(resource, method)
            if operation is None:
                raise ValueError(f"{type(resource).__name__}.{responder} is not declared")
            yield path, method, operation


def _uses(operation: Operation) -> Iterator[Use]:
    """The models ``operation`` reads and writes: the document's named schemas."""
    if operation.body is not None:
        yield operation.body, "validation"
    yield Problem, "validation"
    for response in operation.responses.values():
        if isinstance(response, Response) and response.model is not None:
            yield response.model, "validation" if response.events else "serialization"


class Schemas:
    """The JSON Schemas of the models a document uses, each defined once and named.

    Pydantic names each model's definition (a model whose request and response
    shapes differ gets two, ``-Input`` and ``-Output``); :meth:`of` gives the
    schema to write where a model is used, a ``$ref`` to its definition.
    """

    def __init__(self, uses: Iterable[Use]):
        # In a fixed order, so that the document is the same on every instance.
        ordered = sorted(set(uses), key=lambda use: (use[0].__qualname__, use[1]))
        refs, definitions = models_json_schema(ordered, ref_template=REF_TEMPLATE)
        self._refs = refs
        self.components = {
            name: _tidy(definition)
            for name, definition in sorted(definitions.get("$defs", {}).items())
        }

    def of(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return _tidy(self._refs[model, mode])


def describe(operation: Operation, path_fields: list[str], schemas: Schemas) -> dict[str, Any]:
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
            "content": {falcon.MEDIA_JSON: {"schema": schemas.of(operation.body, "validation")}},
        }
    responses = {**operation.responses, 503: _UNAVAILABLE}
    described["responses"] = {
        str(status): _response(response, schemas) for status, response in sorted(responses.items())
    }
    return described


def schema(model: type[BaseModel], mode: JsonSchemaMode = "serialization") -> dict[str, Any]:
    """The JSON Schema of ``model``, self-contained (no references), as a parameter's is."""
    document = model.model_json_schema(mode=mode)
    definitions = document.pop("$defs", {})
    return _inline(document, definitions)


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    node = _tidy_one(node)
    if "$ref" in node:
        rest = {key: value for key, value in node.items() if key != "$ref"}
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return _inline({**target, **rest}, definitions)
    return {key: _inline(value, definitions) for key, value in node.items()}


def _tidy(node: Any) -> Any:
    """``node`` without what pydantic adds that a contract does not need, at any depth."""
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {key: _tidy(value) for key, value in _tidy_one(node).items()}


def _tidy_one(node: dict[str, Any]) -> dict[str, Any]:
    """Titles, and null defaults: pydantic's, not the contract's."""
    return {
        key: value
        for key, value in node.items()
        if not ((key == "title" and isinstance(value, str)) or (key == "default" and value is None))
    }


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


def _response(response: Response | str, schemas: Schemas) -> dict[str, Any]:
    if isinstance(response, str):
        return {
            "description": response,
            "content": {PROBLEM_JSON: {"schema": schemas.of(Problem, "validation")}},
        }
    if response.model is None and response.schema is None:
        return {"description": response.description}
    if response.events:
        body = sse_event_schema(schemas.of(response.model, "validation"), response.events)
    elif response.model is not None:
        body = schemas.of(response.model, "serialization")
    else:
        body = response.schema
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
