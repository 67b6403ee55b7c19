"""What a schedule is: which job it runs, with what, when, and what it does after downtime.

One model, :class:`ScheduleDefinition`, reads a schedule sent over HTTP,
is stored in Redis, and is what ``every()`` and ``cron()`` declare in code
next to a job (``@job(schedule=every("5m"))``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from ..lifecycle import JobRequest
from .triggers import Cron, Every, InvalidTrigger, Trigger, period_ms, zone

#: What a schedule's name may be: it appears in paths and Redis keys.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
ScheduleName = Annotated[str, Field(pattern=NAME_PATTERN, description="Letters, digits, _.:-")]


class Misfire(StrEnum):
    """What becomes of ticks missed while nothing could fire them (see ``plan.py``)."""

    #: None of them runs.
    SKIP = "skip"
    #: One job runs, for the latest of them.
    RUN_ONCE = "run_once"
    #: Each runs that is no older than the schedule's grace period.
    RUN_ALL = "run_all"


class Source(StrEnum):
    """Where a schedule is declared: with its job in code, or over HTTP."""

    CODE = "code"
    API = "api"


class ScheduleDefinition(JobRequest):
    """A job to run on a schedule: ``every`` so long, or on a ``cron`` expression in ``tz``.

    It is the request each tick submits, and when.
    """

    every: float | str | None = Field(
        None,
        description="Run every so long in real time: seconds, or a text such as '30s', '5m', "
        "'1h30m'. Ticks are counted from the Unix epoch (every 5m: :00, :05, ... UTC).",
    )
    cron: str | None = Field(
        None,
        description="Run at the times of a cron expression (five fields; or six, seconds last), "
        "on the wall clock of `tz`.",
        max_length=200,
    )
    tz: str = Field("UTC", description="The IANA time zone of `cron`.", max_length=64)
    misfire: Misfire = Field(
        Misfire.RUN_ONCE,
        strict=False,  # its value, as JSON and code give it
        description="After downtime, for ticks more than a minute late: skip them, run once "
        "for all of them, or run each that is within `grace`.",
    )
    grace: float = Field(
        3600, ge=1, le=7 * 24 * 3600, description="Seconds a missed tick may still run (run_all)."
    )

    @field_validator("every")
    @classmethod
    def _period(cls, value: float | str | None) -> float | str | None:
        if value is not None:
            try:
                period_ms(value)
            except InvalidTrigger as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zone(value)
        except InvalidTrigger as error:
            raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleDefinition:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give either 'every' or 'cron', not both and not neither")
        try:
            # One that never fires (February 30th) is refused.
            self.trigger().after(0)
        except InvalidTrigger as error:
            raise ValueError(str(error)) from None
        return self

    def trigger(self) -> Trigger:
        if self.every is not None:
            return Every(period_ms(self.every))
        return Cron(self.cron or "", self.tz)


class NewSchedule(ScheduleDefinition):
    """A schedule to create over HTTP: its definition and a name of its own."""

    name: ScheduleName


class Schedule(BaseModel):
    """A stored schedule: its definition and what became of it. Times are ms since the epoch."""

    name: str
    definition: ScheduleDefinition
    source: Source
    paused: bool = False
    #: Counts every change of the definition; a firing that read another
    #: version claims nothing.
    version: int = 1
    #: The next tick to fire (while paused, the one it would have been).
    next_at: int
    #: The last tick that ran a job, and that job.
    last_at: int | None = None
    last_job: str | None = None
    fired: int = 0
    missed: int = 0
    created_at: int
    changed_at: int

    def next_runs(self, count: int) -> list[int]:
        """Its next ``count`` ticks (fewer when it has no more); none while paused."""
        if self.paused:
            return []
        trigger = self.definition.trigger()
        runs = [self.next_at]
        try:
            while len(runs) < count:
                runs.append(trigger.after(runs[-1]))
        except InvalidTrigger:
            pass  # its last tick is among them
        return runs


class HistoryEntry(BaseModel):
    """One line of a schedule's history: a job fired, ticks missed, a change by a person."""

    kind: Literal["fired", "run_now", "missed", "created", "updated", "paused", "resumed"]
    at: int
    tick: int | None = None
    job: str | None = None
    count: int | None = None
    first: int | None = None
    last: int | None = None


@dataclass(frozen=True)
class Declared:
    """A schedule declared in code, waiting for ``@job`` to name its job.

    Made by :func:`every` and :func:`cron`; the schedule takes its job's name.
    """

    when: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)

    def definition(self, actor: str) -> ScheduleDefinition:
        return ScheduleDefinition(actor=actor, **self.when, **self.run)


def every(period: str | float, **run: Any) -> Declared:
    """Run a job every ``period`` of real time (``"30s"``, ``"5m"``, ``"1h30m"``, seconds).

    ``run`` may give the job's ``args``, ``kwargs`` and ``options``, and the
    ``misfire`` policy and ``grace`` (seconds) after downtime.
    """
    return _declare({"every": period}, run)


def cron(expression: str, *, tz: str = "UTC", **run: Any) -> Declared:
    """Run a job at the times of ``expression`` on the wall clock of the IANA zone ``tz``."""
    return _declare({"cron": expression, "tz": tz}, run)


def _declare(when: dict[str, Any], run: dict[str, Any]) -> Declared:
    declared = Declared(when, run)
    declared.definition("check")  # a bad period or expression fails at import
    return declared
