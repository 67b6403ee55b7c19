"""Declaring jobs without binding them to a broker at import time.

``@job`` records what a function is (its name, queue, whether HTTP clients
may call it, its dramatiq options); :func:`bind` turns the recorded jobs it
is given into dramatiq actors on a broker. Importing a module of jobs
therefore never creates a broker behind anyone's back; ``broker.connect``
imports the modules it is told of (``QueueConfig.job_modules``), and
:func:`attach` the queue it built to their :class:`Job` handles.
"""

from __future__ import annotations

import functools
import inspect
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import pydantic

from . import bounds
from .canvas import Step, signature
from .job_request import JobOptions, JobRequest
from .lanes import DEFAULT_PRIORITY, PRIORITIES, lane
from .lifecycle import JobCancelled
from .limits import Limit
from .middleware import ACTOR_OPTIONS
from .record import JobRecord
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

    @functools.cached_property
    def _positional(self) -> tuple[tuple[str, ...], int]:
        """The parameters' names and how many are required, if all may come by position.

        ``((), 1)`` otherwise: no call is mapped without the signature's own bind.
        """
        parameters = self.signature.parameters.values()
        if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters):
            return (), 1
        required = sum(p.default is inspect.Parameter.empty for p in parameters)
        return tuple(p.name for p in parameters), required

    def bind(self, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The arguments given, by parameter name, as the signature's ``bind`` maps them.

        A call that fits is mapped straight: its positional arguments, and
        keyword arguments that name the parameters after them (a batch maps
        one per job, /template one a request). Any other is bound by the
        signature, which raises TypeError, saying why, when the arguments do
        not fit.
        """
        names, required = self._positional
        given = len(args)
        # (A signature that cannot be mapped so lists no names, and requires one.)
        if max(given, required) <= len(names):
            bound = dict(zip(names, args, strict=False))
            if kwargs:
                bound.update(kwargs)
                # No parameter given twice, none that the job does not take.
                fits = len(bound) == given + len(kwargs) and bound.keys() <= self._names
            else:
                fits = True
            # Each parameter without a default, given by position or by name.
            if fits and (required <= given or all(n in bound for n in names[given:required])):
                return bound
        return dict(self.signature.bind(*args, **kwargs).arguments)

    @functools.cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(self._positional[0])

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


@dataclass(frozen=True)
class JobDefaults:
    """The service's options for jobs that declare none (``DEFAULT_MAX_RETRIES``, ...).

    The workers' middleware applies them; readers of records and of
    ``/actors`` ask here what applies to a job, so both say what the workers do.
    """

    max_retries: int
    time_limit_ms: int

    def max_retries_of(self, spec: JobSpec) -> int:
        """The retries a job of ``spec`` gets unless its request says: its own, else the default."""
        return spec.options.get("max_retries", self.max_retries)

    def time_limit_ms_of(self, spec: JobSpec) -> int:
        """How long an attempt may run unless its request says: its own, else the default."""
        return spec.options.get("time_limit", self.time_limit_ms)


_specs: dict[str, JobSpec] = {}


def job(
    *,
    public: bool = False,
    queue: str = "default",
    schedule: Declared | None = None,
    **options: Any,
):
    """Declare a function as a job.

    ``public`` jobs may be submitted over HTTP, alone or as steps of a
    workflow (``job.s(...)``, see ``actors.canvas``). ``schedule``
    (``every("5m")``, ``cron("0 3 * * *", tz="Europe/Berlin")``) runs the
    job by itself, as a schedule named after it; ``options`` are dramatiq
    actor options (``max_retries``, ``time_limit``, ``min_backoff``, ``throws``)
    and this service's limits (``concurrency``: at most that many running at
    once across every worker; ``rate``: starts per period, ``"100/s"``).
    As ``dramatiq.actor`` does, an option that no installed middleware reads
    is refused when the job is declared: a typo fails at import. A public
    job's parameter without a bound on its size is warned about
    (:class:`bounds.UnboundedParameter`).
    """
    unknown = set(options) - ACTOR_OPTIONS
    if unknown:
        raise ValueError(
            f"unknown job options: {', '.join(sorted(unknown))}; "
            f"the middleware installed accepts {', '.join(sorted(ACTOR_OPTIONS))}"
        )
    Limit.of(options)

    def declare(fn: Callable[..., Any]) -> Job:
        if fn.__name__ in _specs:
            raise ValueError(f"a job named {fn.__name__!r} is already declared")
        _specs[fn.__name__] = spec = JobSpec(fn, fn.__name__, queue, public, options, schedule)
        if public:
            for warning in bounds.warnings_for(spec.name, spec.parameter_schemas()):
                warnings.warn(warning, bounds.UnboundedParameter, stacklevel=2)
        return Job(spec)

    return declare


def specs() -> dict[str, JobSpec]:
    """Every declared job, by name."""
    return dict(_specs)


class Job:
    """What ``@job`` makes of a function: the function still, and the way to run it as a job.

    Calling it runs the function here and now. :meth:`submit` records and
    enqueues a run, checked as ``POST /jobs`` checks one, and returns its
    record; :meth:`send` and the rest are the bound dramatiq actor's, for
    pipelines and groups (their jobs are recorded too, as they are sent).
    Both go to the queue ``actors.connect`` built last in this process, as
    dramatiq's actors go to the broker set last.
    """

    def __init__(self, spec: JobSpec):
        self.spec = spec
        functools.update_wrapper(self, spec.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.spec.fn(*args, **kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> JobRecord:
        """Record and enqueue a run with these arguments; its record (``state`` "queued")."""
        return self.submit_with_options(args=args, kwargs=kwargs)

    def submit_with_options(
        self,
        *,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> JobRecord:
        """As :meth:`submit`, with the options of ``POST /jobs`` (``delay``, ``priority``...).

        Raises ``InvalidJob`` (a ValueError) for arguments or options that do
        not fit, as the API answers 422. With an ``idempotency_key`` already
        used, the job submitted first comes back and nothing is enqueued.
        """
        # Submitting needs the broker, which imports this module.
        from .submission import InvalidJob, submit

        try:
            request = JobRequest(
                actor=self.spec.name,
                args=list(args),
                kwargs=kwargs or {},
                options=JobOptions(**options),
            )
        except pydantic.ValidationError as error:
            first = error.errors()[0]
            where = "/".join(map(str, first["loc"]))
            raise InvalidJob(f"{where!r} of {self.spec.name}: {first['msg']}") from None
        _created, record = submit(
            self.queue, request, idempotency_key=idempotency_key, private=True
        )
        return record

    def s(self, *args: Any, **kwargs: Any) -> Step:
        """A step of a workflow running this job (see ``actors.canvas``).

        It receives the results of the steps before it in front of ``args``.
        """
        return signature(self.spec.name, args, kwargs, receives=True)

    def si(self, *args: Any, **kwargs: Any) -> Step:
        """A step of a workflow running this job, receiving nothing from the steps before it."""
        return signature(self.spec.name, args, kwargs, receives=False)

    def send(self, *args: Any, **kwargs: Any) -> dramatiq.Message:
        """``actor.send``: enqueue a run unchecked, as plain dramatiq does (it is recorded)."""
        return self.actor().send(*args, **kwargs)

    def send_with_options(
        self, *, priority: str = DEFAULT_PRIORITY, **options: Any
    ) -> dramatiq.Message:
        """``actor.send_with_options`` (``args``, ``kwargs``, ``delay`` in ms), in a lane."""
        return self.actor(priority).send_with_options(**options)

    def message(self, *args: Any, **kwargs: Any) -> dramatiq.Message:
        """``actor.message``: a message for a pipeline or a group."""
        return self.actor().message(*args, **kwargs)

    def message_with_options(
        self, *, priority: str = DEFAULT_PRIORITY, **options: Any
    ) -> dramatiq.Message:
        return self.actor(priority).message_with_options(**options)

    def actor(self, priority: str = DEFAULT_PRIORITY) -> dramatiq.Actor:
        """The dramatiq actor that runs this job in the lane of ``priority``."""
        return self.queue.actors[lane(self.spec.name, priority)]

    @property
    def queue(self) -> Any:
        """The queue this job is submitted to: the one ``actors.connect`` built last."""
        queue = _queues.get(self.spec.name)
        if queue is None:
            raise RuntimeError(
                f"{self.spec.name} is on no queue yet: connect one first "
                "(actors.connect(config), or actors.connect(settings.queue_config()))"
            )
        return queue


#: The queue each job's handle submits to, by job name (see :func:`attach`).
_queues: dict[str, Any] = {}


def attach(queue: Any) -> None:
    """Make ``queue`` (an ``actors.Queue``) the one its jobs' handles submit and send to."""
    for name in queue.specs:
        _queues[name] = queue


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
