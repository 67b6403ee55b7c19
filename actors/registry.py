"""Declaring jobs without binding them to a broker at import time.

``@job`` records what a function is (its name, queue, whether HTTP clients
may call it, its dramatiq options); :func:`bind` turns the recorded jobs it
is given into dramatiq actors on a broker. Importing a module of jobs
therefore never creates a broker behind anyone's back; ``broker.connect``
imports the modules it is told of (``QueueConfig.job_modules``).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import pydantic

from .lanes import PRIORITIES, lane
from .lifecycle import JobCancelled
from .limits import Limit
from .middleware import ACTOR_OPTIONS
from .schedules.definition import Declared

#: How a job's arguments are checked: as JSON gives them (no coercion: "1" is
#: not an int, true is not a number), no argument the job does not take.
_ARGUMENTS = pydantic.ConfigDict(strict=True, extra="forbid")


@dataclass(frozen=True)
class JobSpec:
    fn: Callable[..., Any]
    name: str
    queue: str
    public: bool
    options: dict[str, Any] = field(default_factory=dict)
    #: When the job runs by itself (``every(...)`` or ``cron(...)``), if it does.
    schedule: Declared | None = None

    # Cached: every submission checks its arguments against the signature,
    # and inspect builds it anew on each call (a quarter of a batch's cost).
    @functools.cached_property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    @property
    def description(self) -> str:
        return inspect.getdoc(self.fn) or ""

    @functools.cached_property
    def arguments(self) -> type[pydantic.BaseModel]:
        """The job's parameters as a model: the annotations and bounds its arguments must fit.

        A parameter declares its bounds in the signature, as pydantic reads
        them (``to: Annotated[int, Field(ge=1, le=10_000)]``); one without an
        annotation takes any JSON value.
        """
        # Annotations are strings under "from __future__ import annotations".
        hints = typing.get_type_hints(self.fn, include_extras=True)
        fields = {
            name: (
                hints.get(name, Any),
                ... if parameter.default is inspect.Parameter.empty else parameter.default,
            )
            for name, parameter in self.signature.parameters.items()
        }
        return pydantic.create_model(f"{self.name}_arguments", __config__=_ARGUMENTS, **fields)

    @property
    def limit(self) -> Limit | None:
        """How many may run at once and start per period, across every worker (None: no limit)."""
        return Limit.of(self.options)

    def parameter_schemas(self) -> dict[str, dict[str, Any]]:
        """Each parameter's JSON Schema, bounds included, in the signature's order."""
        properties = self.arguments.model_json_schema()["properties"]
        return {
            name: {key: value for key, value in schema.items() if key != "title"}
            for name, schema in properties.items()
        }


_specs: dict[str, JobSpec] = {}


def job(
    *,
    public: bool = False,
    queue: str = "default",
    schedule: Declared | None = None,
    **options: Any,
):
    """Declare a function as a job.

    ``public`` jobs may be submitted over HTTP. ``schedule``
    (``every("5m")``, ``cron("0 3 * * *", tz="Europe/Berlin")``) runs the
    job by itself, as a schedule named after it; ``options`` are dramatiq
    actor options (``max_retries``, ``time_limit``, ``min_backoff``, ``throws``)
    and this service's limits (``concurrency``: at most that many running at
    once across every worker; ``rate``: starts per period, ``"100/s"``).
    As ``dramatiq.actor`` does, an option that no installed middleware reads
    is refused when the job is declared: a typo fails at import.
    """
    unknown = set(options) - ACTOR_OPTIONS
    if unknown:
        raise ValueError(
            f"unknown job options: {', '.join(sorted(unknown))}; "
            f"the middleware installed accepts {', '.join(sorted(ACTOR_OPTIONS))}"
        )
    Limit.of(options)

    def declare(fn: Callable[..., Any]) -> Callable[..., Any]:
        if fn.__name__ in _specs:
            raise ValueError(f"a job named {fn.__name__!r} is already declared")
        _specs[fn.__name__] = JobSpec(fn, fn.__name__, queue, public, options, schedule)
        return fn

    return declare


def specs() -> dict[str, JobSpec]:
    """Every declared job, by name."""
    return dict(_specs)


def bind(broker: dramatiq.Broker, specs: dict[str, JobSpec]) -> dict[str, dramatiq.Actor]:
    """Declare each of ``specs`` as an actor on ``broker``, once per priority lane.

    Each lane is a queue of its own (``default``, ``default-high``, ...), so a
    worker fetches from every lane at once however long the others are; among
    the messages it holds, its threads take the most urgent lane first.
    Returns the actors by name (see :func:`lane`).
    """
    actors = {}
    for spec in specs.values():
        throws = spec.options.get("throws") or ()
        throws = throws if isinstance(throws, tuple) else (throws,)
        options = {**spec.options, "throws": (JobCancelled, *throws)}
        run = _cancellable(spec.fn)
        for priority, rank in PRIORITIES.items():
            name = lane(spec.name, priority)
            actors[name] = dramatiq.Actor(
                run,
                broker=broker,
                actor_name=name,
                queue_name=lane(spec.queue, priority),
                priority=rank,
                options=options,
            )
    return actors


def _cancellable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let a cancelled job end quietly.

    The job's record already says "cancelled"; returning normally keeps the
    message out of the dead-letter queue, where it does not belong.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JobCancelled:
            return None

    return run
