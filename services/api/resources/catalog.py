"""``/actors``: which jobs a client may submit, and what each takes."""

from __future__ import annotations

import inspect
from typing import Any

import falcon

from actors import JobSpec, Queue
from actors.lanes import PRIORITIES
from actors.registry import JSON_TYPES

from .. import schemas
from ..openapi import json_response


def describe(spec: JobSpec) -> dict[str, Any]:
    """A public job as clients see it: its name, what it does, its parameters."""
    parameters = []
    for parameter in spec.signature.parameters.values():
        required = parameter.default is inspect.Parameter.empty
        parameters.append(
            {
                "name": parameter.name,
                "type": JSON_TYPES.get(spec.json_type(parameter.name)),
                "required": required,
                "default": None if required else parameter.default,
            }
        )
    time_limit_ms = spec.options.get("time_limit")
    return {
        "name": spec.name,
        "description": spec.description,
        "queue": spec.queue,
        "priorities": list(PRIORITIES),
        "parameters": parameters,
        "max_retries": spec.options.get("max_retries"),
        # Seconds, as in the options of a submission.
        "time_limit": None if time_limit_ms is None else time_limit_ms / 1000,
    }


class Catalog:
    openapi = {
        "get": {
            "summary": "The jobs a client may submit, with their parameters",
            "responses": {"200": json_response("Every public job", schemas.ACTOR_LIST)},
        }
    }

    def __init__(self, queue: Queue):
        self.actors = [describe(spec) for spec in queue.specs.values() if spec.public]

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"actors": self.actors}
