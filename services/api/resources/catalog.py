"""``/actors``: which jobs a client may submit, and what each takes."""

from __future__ import annotations

import inspect

import falcon

from actors import JobSpec
from actors.lanes import PRIORITIES
from actors.registry import JobDefaults

from ..contract import Operation, Response
from ..models import Actor, ActorList, Parameter


def describe(spec: JobSpec, defaults: JobDefaults) -> Actor:
    """A public job as clients see it: its name, what it does, its parameters.

    Its retries and time limit are those that apply: its own, else the
    service's ``defaults``, never null.
    """
    parameters = []
    schemas = spec.parameter_schemas()
    for parameter in spec.signature.parameters.values():
        required = parameter.default is inspect.Parameter.empty
        parameters.append(
            Parameter(
                name=parameter.name,
                type=schemas[parameter.name].get("type"),
                required=required,
                default=None if required else parameter.default,
                json_schema=schemas[parameter.name],
            )
        )
    return Actor(
        name=spec.name,
        description=spec.description,
        queue=spec.queue,
        priorities=list(PRIORITIES),
        parameters=parameters,
        max_retries=defaults.max_retries_of(spec),
        time_limit=defaults.time_limit_ms_of(spec) / 1000,
        **(spec.limit.describe() if spec.limit else {}),
    )


class Catalog:
    operations = {
        "get": Operation(
            "The jobs a client may submit, with their parameters",
            responses={200: Response("Every public job", ActorList)},
        )
    }

    def __init__(self, public_jobs: dict[str, JobSpec], defaults: JobDefaults):
        self.actors = ActorList(actors=[describe(spec, defaults) for spec in public_jobs.values()])

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.actors
