"""What the API takes and returns, each declared once as a pydantic model.

The same models check requests (``contract.py``), shape responses, and make up
``/openapi.json``, so the published contract and what the API does cannot
drift apart. A job's own fields are its record's (``actors/record.py``);
the view here only adds how clients see them: ISO 8601 times and links.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from actors import JobSpec, Queue
from actors.job_request import JobOptions, JobRequest
from actors.jobs import ShortText
from actors.record import Failure, JobRecord, Progress
from actors.schedules.definition import ScheduleDefinition
from actors.states import State
from actors.workflow_store import StepView, WorkflowRecord, WorkflowState

#: A Redis stream id: what event ids, Last-Event-ID and list cursors are, in the
#: API and the dashboard alike.
STREAM_ID = r"^[0-9]+-[0-9]+$"
#: The largest number Redis takes as a stream id's half, or as a scan cursor: 64 bits, unsigned.
MAX_REDIS_NUMBER = 2**64 - 1


def stream_id(value: str) -> str:
    """``value`` as a stream id Redis accepts (else ValueError, saying why).

    Redis refuses larger halves with an error, rather than an empty answer.
    """
    if not re.fullmatch(STREAM_ID, value):
        raise ValueError("expected a stream id: two whole numbers joined by a dash")
    parts = [int(part) for part in value.split("-")]
    if any(part > MAX_REDIS_NUMBER for part in parts):
        raise ValueError("each half of an id is at most 2**64 - 1")
    return "-".join(map(str, parts))


StreamId = Annotated[str, Field(pattern=STREAM_ID), AfterValidator(stream_id)]
IsoTime = Annotated[str | None, Field(json_schema_extra={"format": "date-time"})]


@functools.lru_cache(maxsize=4096)
def iso(ms: int | None) -> str | None:
    """``ms`` in ISO 8601, remembered: a job's times are mostly one, a batch's jobs share them."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


# Jobs -----------------------------------------------------------------------


def submission(public_jobs: dict[str, JobSpec], max_time_limit: float) -> type[JobRequest]:
    """A job request for one of ``public_jobs``: the body of POST /jobs.

    The arguments are checked against each job's signature when it is
    submitted (``actors.submission.check``); the schema publishes the same
    bounds, one branch per job. No job may ask for more than ``max_time_limit``
    seconds, so that none holds a worker thread for longer.
    """
    actor = Literal[tuple(sorted(public_jobs))]
    time_limit = Annotated[float, Field(gt=0, le=max_time_limit)]
    options = create_model(
        "SubmissionOptions",
        __base__=JobOptions,
        time_limit=(
            time_limit | SkipJsonSchema[None],
            Field(
                None,
                description=f"{JobOptions.model_fields['time_limit'].description} "
                f"At most {max_time_limit:g}.",
            ),
        ),
    )
    branches = [_arguments_schema(name, spec) for name, spec in sorted(public_jobs.items())]
    return create_model(
        "JobSubmission",
        __base__=JobRequest,
        __cls_kwargs__={"json_schema_extra": {"oneOf": branches}},
        actor=(actor, Field(description=JobRequest.model_fields["actor"].description)),
        options=(options, Field(default_factory=options)),
    )


def _arguments_schema(name: str, spec: JobSpec) -> dict[str, Any]:
    """What ``args`` and ``kwargs`` may be when ``actor`` is ``name``, as JSON Schema."""
    parameters = spec.parameter_schemas()
    return {
        "properties": {
            "actor": {"const": name},
            "args": {"type": "array", "prefixItems": list(parameters.values())},
            "kwargs": {"type": "object", "properties": parameters, "additionalProperties": False},
        }
    }


#: The most jobs one POST /jobs/batch takes. A batch is one script call, which
#: Redis runs to its end before it serves anyone else: this bounds that pause.
MAX_BATCH_JOBS = 1000


def batch(job: type[JobRequest]) -> type[BaseModel]:
    """Many job requests at once: the body of POST /jobs/batch."""
    return create_model(
        "BatchSubmission",
        __config__=ConfigDict(extra="forbid", strict=True),
        jobs=(list[job], Field(min_length=1, max_length=MAX_BATCH_JOBS)),
    )


def schedule(submission: type[JobRequest]) -> type[ScheduleDefinition]:
    """A schedule whose job is one ``submission`` takes: the body of PUT /schedules/{name}."""
    return create_model(
        "ScheduleBody",
        __base__=ScheduleDefinition,
        __cls_kwargs__={"json_schema_extra": submission.model_config.get("json_schema_extra")},
        actor=(submission.model_fields["actor"].annotation, Field(description="A public job.")),
        options=(
            submission.model_fields["options"].annotation,
            submission.model_fields["options"],
        ),
    )


class Links(BaseModel):
    self: str
    events: str


class RunOptions(BaseModel):
    """The options a job runs with: its request's, else its job's own, else the service's.

    The same rule the workers apply, so a record says what happens. Retries
    and the time limit are null only for a job that no module here declares.
    """

    delay: float = Field(0, description="Seconds it waited before it could start.")
    max_retries: int | None = Field(
        description="How many times it is retried, failing, before it is dead."
    )
    time_limit: float | None = Field(
        description="Seconds one attempt may run before it is interrupted."
    )
    priority: str = Field(description="The lane it waits in: high, normal or low.")

    @classmethod
    def of(cls, record: JobRecord, queue: Queue) -> RunOptions:
        """The options the job of ``record`` runs with."""
        return cls.requested(record.actor, record.options, queue)

    @classmethod
    def requested(cls, actor: str, options: JobOptions | None, queue: Queue) -> RunOptions:
        """What a job of ``actor`` asked to run with ``options`` runs with (a schedule's too)."""
        submitted = options or JobOptions()
        spec = queue.specs.get(actor)
        max_retries, time_limit = submitted.max_retries, submitted.time_limit
        if spec is not None:
            if max_retries is None:
                max_retries = queue.defaults.max_retries_of(spec)
            if time_limit is None:
                time_limit = queue.defaults.time_limit_ms_of(spec) / 1000
        return cls(
            delay=submitted.delay,
            max_retries=max_retries,
            time_limit=time_limit,
            priority=submitted.priority,
        )


class Job(JobRecord):
    """A job as clients see it: its record, times in ISO 8601, and where to find more."""

    enqueued_at: IsoTime = None
    eta: IsoTime = None
    started_at: IsoTime = None
    finished_at: IsoTime = None
    updated_at: IsoTime = None
    options: RunOptions
    redis_message_id: str | None = Field(None, exclude=True)
    links: Links

    @classmethod
    def of(cls, record: JobRecord, queue: Queue, options: RunOptions | None = None) -> Job:
        """How ``record`` is shown: its options as ``queue``'s workers apply them.

        ``options``: those, worked out already (:meth:`of_many`).
        """
        # Its fields as they are rather than dumped: its nested models are valid
        # and pass as themselves, at a fraction of the cost, times a batch's jobs.
        fields = dict(record.__dict__)
        for name in _TIMES:
            fields[name] = iso(fields[name])
        fields["options"] = options or RunOptions.of(record, queue)
        fields["links"] = job_links(record.id)
        return cls.model_validate(fields)

    @classmethod
    def of_many(cls, records: list[JobRecord], queue: Queue) -> list[Job]:
        """:meth:`of` each record, the options of each kind of job worked out once.

        The jobs of a batch, or of a page, are mostly of a few kinds: the
        same job asked to run the same way.
        """
        kinds: dict[tuple[Any, ...], RunOptions] = {}
        jobs = []
        for record in records:
            asked = record.options
            kind = (record.actor, None if asked is None else tuple(asked.__dict__.values()))
            options = kinds.get(kind)
            if options is None:
                options = kinds[kind] = RunOptions.of(record, queue)
            jobs.append(cls.of(record, queue, options))
        return jobs


def job_links(job_id: str) -> dict[str, str]:
    """Where a job's record and its events are."""
    return {"self": f"/jobs/{job_id}", "events": f"/jobs/{job_id}/events"}


def followed(record: JobRecord) -> dict[str, str]:
    """What a page that follows a job shows of its record (/template): its id, state and links.

    Flat, each a variable of the page: a template finds a variable at once,
    where each subscript of a nested one is a call.
    """
    links = job_links(record.id)
    return {
        "job_id": record.id,
        "state": record.state.value,
        "record": links["self"],
        "events": links["events"],
    }


_TIMES = ("enqueued_at", "eta", "started_at", "finished_at", "updated_at")


class JobList(BaseModel):
    jobs: list[Job]
    next_cursor: str | None


class BatchResult(BaseModel):
    jobs: list[Job]


class JobEvent(BaseModel):
    """One change in a job's life; its times in ISO 8601, as a record's are."""

    state: State
    at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    progress: Progress | None = None
    error: Failure | None = None
    result: Any = None


def shown_event(event: dict[str, Any]) -> dict[str, Any]:
    """How an event kept (times in milliseconds) is shown: every time in ISO 8601.

    Every event stream, a job's or a workflow's, the API's or the dashboard's,
    sends its events this way, so that they tell times as records do.
    """
    return {
        name: iso(value) if name in _EVENT_TIMES and isinstance(value, int) else value
        for name, value in event.items()
    }


#: The fields of an event that are times: when it happened, and what it changed.
_EVENT_TIMES = frozenset({"at", *_TIMES})


def sse_event_schema(data: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, Any]:
    """One Server-Sent Event, described as OpenAPI 3.2's ``itemSchema`` describes a stream.

    Schemathesis checks each event of a stream against it: its id, its name
    (one of ``kinds``), and its data, JSON that fits ``data``.
    """
    return {
        "type": "object",
        "required": ["id", "event", "data"],
        "properties": {
            "id": {"type": "string", "pattern": STREAM_ID},
            "event": {"type": "string", "enum": list(kinds)},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data,
            },
        },
    }


# Workflows --------------------------------------------------------------------


class StepLinks(BaseModel):
    job: str


class WorkflowStep(StepView):
    """A step as clients see it: where it stands, and its job."""

    links: StepLinks


class WorkflowLinks(BaseModel):
    self: str
    events: str


class Workflow(WorkflowRecord):
    """A workflow as clients see it: its record, times in ISO 8601, each step and its job."""

    created_at: IsoTime = None
    updated_at: IsoTime = None
    finished_at: IsoTime = None
    # As they are, not as Redis keeps them (JSON text).
    result: Any = None
    error: dict[str, Any] | None = None
    steps: list[WorkflowStep]
    links: WorkflowLinks

    @classmethod
    def of(cls, record: WorkflowRecord) -> Workflow:
        fields = record.model_dump(mode="json")
        for name in ("created_at", "updated_at", "finished_at"):
            fields[name] = iso(fields[name])
        for step in fields["steps"]:
            step["links"] = {"job": f"/jobs/{step['job_id']}"}
        fields["links"] = {
            "self": f"/workflows/{record.id}",
            "events": f"/workflows/{record.id}/events",
        }
        return cls.model_validate(fields)


class WorkflowList(BaseModel):
    workflows: list[Workflow]
    next_cursor: str | None


class WorkflowEvent(BaseModel):
    """One change in a workflow: a step's new state, or the workflow's end; its time in ISO 8601."""

    state: WorkflowState
    at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    step: int | None = None
    step_state: State | None = None


#: The kind of every event of a workflow's stream.
WORKFLOW_EVENT_KINDS = ("workflow",)


class WorkflowListQuery(BaseModel):
    state: WorkflowState | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: StreamId | None = Field(None, description="A next_cursor value.")


# Parameters -------------------------------------------------------------------


class ListQuery(BaseModel):
    state: State | None = None
    actor: str | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: StreamId | None = Field(None, description="A next_cursor value.")


def wait_query(max_seconds: float) -> type[BaseModel]:
    """The ``?wait=`` of GET /jobs/{job_id}, up to ``max_seconds``."""
    return create_model(
        "WaitQuery",
        wait=(
            float | None,
            Field(
                None,
                ge=0,
                le=max_seconds,
                description="Seconds to hold the request until the job ends.",
            ),
        ),
    )


class SubmitHeaders(BaseModel):
    idempotency_key: str | None = Field(
        None,
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,200}$",
        description="Submitting again with the same key returns the first job.",
    )


class EventsHeaders(BaseModel):
    last_event_id: StreamId = Field(
        "0-0", alias="Last-Event-ID", description="Resume after this event."
    )


class DocumentQuery(BaseModel):
    """The fields of the document /template renders, from the query string."""

    title: ShortText | None = None
    name: ShortText | None = None
    message: ShortText | None = None


# Other bodies -----------------------------------------------------------------


class Parameter(BaseModel):
    name: str
    type: str | None
    required: bool
    default: Any
    #: The JSON Schema an argument must fit, bounds included (``maximum``, ``maxLength``).
    json_schema: dict[str, Any]


class Actor(BaseModel):
    """A public job as clients see it: its name, what it does, its parameters."""

    name: str
    description: str
    queue: str
    priorities: list[str]
    parameters: list[Parameter]
    #: Its own, else the service's default: what applies.
    max_retries: int
    #: Seconds, as in the options of a submission; its own, else the service's default.
    time_limit: float
    concurrency: int | None = Field(
        None, description="At most this many run at once, across every worker; null: no limit."
    )
    rate: str | None = Field(
        None,
        description="At most this many start per period, across every worker, as '100/s' "
        "(s, m, h, d); null: no limit. A job over a limit waits, spending no retry.",
    )


class ActorList(BaseModel):
    actors: list[Actor]


class Status(BaseModel):
    status: str


class Problem(BaseModel):
    """An error, as RFC 9457 describes it."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
