"""What ``/schedules`` takes and returns, declared once as pydantic models.

A schedule's body is the schedule definition (``actors/schedules``) with the
job request of ``POST /jobs`` in it: the same public jobs, argument bounds
and option limits, so a schedule is refused for what a submission would be.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model, field_serializer

from actors.schedules.definition import (
    HistoryEntry,
    Schedule,
    ScheduleDefinition,
    ScheduleName,
    ScheduleState,
    epoch_ms,
)
from actors.schedules.triggers import describe

from .models import IsoTime, iso

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

    #: As given, with null for what the job's declaration decides.
    options: dict[str, Any] = Field(default_factory=dict)  # type: ignore[assignment]
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

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleView:
        return cls.model_validate(cls.fields_of(schedule))

    @staticmethod
    def fields_of(schedule: Schedule) -> dict[str, Any]:
        # Keywords: a schedule's state is its own, not a job's (see test_lifecycle_owner).
        return dict(
            **schedule.definition.model_dump(),
            name=schedule.name,
            source=schedule.source.value,
            paused=schedule.paused,
            state=schedule.state,
            when=describe(schedule.definition.trigger()),
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
    def of(cls, schedule: Schedule, history: list[HistoryEntry]) -> ScheduleDetail:  # type: ignore[override]
        return cls.model_validate(
            {**cls.fields_of(schedule), "history": [HistoryLine.of(entry) for entry in history]}
        )


class ScheduleList(BaseModel):
    schedules: list[ScheduleView]
