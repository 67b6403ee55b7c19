"""What ``/schedules`` takes and returns, declared once as pydantic models.

A schedule's body is the schedule definition (``actors/schedules``) with the
job request of ``POST /jobs`` in it: the same public jobs, argument bounds
and option limits, so a schedule is refused for what a submission would be.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model, field_serializer

from actors import Queue
from actors.job_request import JobOptions
from actors.schedules.definition import (
    HistoryEntry,
    Schedule,
    ScheduleDefinition,
    ScheduleName,
    ScheduleState,
    epoch_ms,
)
from actors.schedules.triggers import describe

from .models import IsoTime, RunOptions, iso

#: How many next runs a schedule shows.
NEXT_RUNS = 5


def new_schedule(body: type[ScheduleDefinition]) -> type[ScheduleDefinition]:
    """The body of POST /schedules: a definition and the schedule's name."""
    return create_model("NewScheduleBody", __base__=body, name=(ScheduleName, ...))


def stored(body: ScheduleDefinition) -> ScheduleDefinition:
    """A body's definition as it is stored: the definition's fields alone."""
    return ScheduleDefinition.model_validate_json(
        body.model_dump_json(include=set(ScheduleDefinition.model_fields))
    )


class ScheduleLinks(BaseModel):
    self: str
    last_job: str | None


class ScheduleView(ScheduleDefinition):
    """A schedule as clients see it: its definition, what became of it, its next runs."""

    model_config = {"strict": False}

    options: RunOptions = Field(  # type: ignore[assignment]
        description="The options its jobs run with: as declared here, else the job's own, "
        "else the service's defaults, as a job's record and GET /actors show them."
    )
    declared_options: JobOptions = Field(
        description="The options as this definition declares them, without the defaults it "
        "leaves to its job and the service: what a PUT sends back to keep following them."
    )
    name: str
    source: Literal["code", "api"] = Field(
        description="Declared in code with its job (replaced and deleted there), or over HTTP."
    )
    paused: bool
    state: ScheduleState = Field(
        description="finished: it has no tick to come (past its end_at, or its max_runs run)."
    )
    when: str = Field(description="When it runs, as a person reads it.")
    next_runs: list[str] = Field(description="Its next ticks; none while paused or finished.")
    last_run: IsoTime = Field(None, description="The last tick that ran a job.")
    last_job: str | None = Field(None, description="That job's id.")
    fired: int = Field(description="Ticks that ran a job (runs asked for now are not ticks).")
    runs_left: int | None = Field(description="Ticks still to run under max_runs; null: no limit.")
    missed: int = Field(description="Ticks that ran no job: missed while nothing fired.")
    created_at: IsoTime
    changed_at: IsoTime
    links: ScheduleLinks

    @field_serializer("start_at", "end_at")
    def _as_other_times(self, at: datetime | None) -> str | None:
        return None if at is None else iso(epoch_ms(at))

    @field_serializer("declared_options")
    def _as_declared(self, options: JobOptions) -> dict[str, Any]:
        return options.declared()

    @classmethod
    def of(cls, schedule: Schedule, queue: Queue) -> ScheduleView:
        return cls.model_validate(cls.fields_of(schedule, queue))

    @staticmethod
    def fields_of(schedule: Schedule, queue: Queue) -> dict[str, Any]:
        definition = schedule.definition
        fields = definition.model_dump()
        # Keywords: a schedule's state is its own, not a job's (see test_lifecycle_owner).
        fields.update(
            options=RunOptions.requested(definition.actor, definition.options, queue),
            declared_options=definition.options,
            name=schedule.name,
            source=schedule.source.value,
            paused=schedule.paused,
            state=schedule.state,
            when=describe(definition.trigger()),
            next_runs=[iso(run) for run in schedule.next_runs(NEXT_RUNS)],
            last_run=iso(schedule.last_at),
            last_job=schedule.last_job,
            fired=schedule.fired,
            runs_left=schedule.runs_left,
            missed=schedule.missed,
            created_at=iso(schedule.created_at),
            changed_at=iso(schedule.changed_at),
            links={
                "self": f"/schedules/{schedule.name}",
                "last_job": f"/jobs/{schedule.last_job}" if schedule.last_job else None,
            },
        )
        return fields


class HistoryLine(BaseModel):
    """One entry of a schedule's history, times in ISO 8601."""

    kind: str = Field(
        description="fired (a tick ran a job), run_now, missed (ticks that ran none), "
        "finished (no tick to come), created, updated, paused, resumed"
    )
    at: IsoTime
    tick: IsoTime = None
    job: str | None = None
    count: int | None = Field(None, description="How many ticks were missed.")
    first: IsoTime = Field(None, description="The first missed tick.")
    last: IsoTime = Field(None, description="The last missed tick.")

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryLine:
        fields: dict[str, Any] = entry.model_dump()
        for name in ("at", "tick", "first", "last"):
            fields[name] = iso(fields[name])
        return cls.model_validate(fields)


class ScheduleDetail(ScheduleView):
    history: list[HistoryLine] = Field(description="The latest entries, newest first.")

    @classmethod
    def of(  # type: ignore[override]
        cls, schedule: Schedule, queue: Queue, history: list[HistoryEntry]
    ) -> ScheduleDetail:
        lines = [HistoryLine.of(entry) for entry in history]
        return cls.model_validate({**cls.fields_of(schedule, queue), "history": lines})


class ScheduleList(BaseModel):
    schedules: list[ScheduleView]
