"""The OpenAPI 3.1 document, built from the routes the app serves.

Each resource class describes its operations in an ``openapi`` attribute,
using the schemas that also validate requests (``schemas.py``); this module
only walks the routes. A route without a description, or a responder without
an operation, fails the build, so nothing served goes unpublished.
"""

from __future__ import annotations

from typing import Any

import falcon

from . import schemas

_RESPONDERS = {"on_get": "get", "on_post": "post", "on_delete": "delete"}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": schemas.PROBLEM}},
    }


def build(routes: list[tuple[str, object]], *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, resource in routes:
        operations = getattr(resource, "openapi", None)
        if operations is None:
            raise ValueError(f"{type(resource).__name__} at {path} has no openapi description")
        item = {}
        for responder, method in _RESPONDERS.items():
            if not hasattr(resource, responder):
                continue
            if method not in operations:
                raise ValueError(f"{type(resource).__name__}.{responder} is not described")
            operation = dict(operations[method])
            operation["responses"] = {
                **operation["responses"],
                "503": problem("Redis is unreachable, or the instance is busy; retry later"),
            }
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_fields(path)
            ]
            parameters += operation.get("parameters", [])
            if parameters:
                operation["parameters"] = parameters
            item[method] = operation
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
    }


def _path_fields(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


class OpenAPIDocument:
    openapi = {
        "get": {
            "summary": "This document",
            "responses": {"200": json_response("The OpenAPI document", {"type": "object"})},
        }
    }

    def __init__(self) -> None:
        self.document: dict[str, Any] = {}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.document
