"""What a schedule is: which job it runs, with what, when, and what it does after downtime.

One model, :class:`ScheduleDefinition`, reads a schedule sent over HTTP,
is stored in Redis, and is what ``every()`` and ``cron()`` declare in code
next to a job (``@job(schedule=every("5m"))``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from ..job_request import JobRequest
from ..states import State
from .triggers import (
    Cron,
    Every,
    InvalidTrigger,
    NoMoreTicks,
    Trigger,
    Window,
    following,
    period_ms,
    zone,
)

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


class ScheduleState(StrEnum):
    """Whether a schedule fires: running, paused by a person, or finished (no tick to come)."""

    RUNNING = State.RUNNING.value
    PAUSED = "paused"
    FINISHED = "finished"


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
        "'1h30m'. Ticks are counted from `start_at`, or else from the Unix epoch (every 5m: "
        ":00, :05, ... UTC).",
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
    start_at: AwareDatetime | None = Field(
        None,
        strict=False,  # ISO 8601 text, as JSON gives it
        description="No tick before this time (ISO 8601, with its offset from UTC).",
    )
    end_at: AwareDatetime | None = Field(
        None,
        strict=False,
        description="No tick after this time (ISO 8601, with its offset from UTC); "
        "then the schedule is finished.",
    )
    max_runs: int | None = Field(
        None,
        ge=1,
        description="Finished once this many ticks have run a job (runs asked for now "
        "are not ticks).",
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
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("end_at must come after start_at")
        try:
            # One that never fires (February 30th, or not between its start and end) is refused.
            self.trigger().after(epoch_ms(self.start_at) - 1 if self.start_at else 0)
        except NoMoreTicks as error:
            if self.end_at:
                raise ValueError("it has no tick up to its end_at") from None
            raise ValueError(str(error)) from None
        except InvalidTrigger as error:
            raise ValueError(str(error)) from None
        return self

    def trigger(self) -> Trigger:
        """When it runs: its period or expression, from ``start_at`` up to ``end_at``."""
        start = epoch_ms(self.start_at) if self.start_at else None
        end = epoch_ms(self.end_at) if self.end_at else None
        ticking: Every | Cron
        if self.every is not None:
            ticking = Every(period_ms(self.every), anchor_ms=start or 0)
        else:
            ticking = Cron(self.cron or "", self.tz)
        return ticking if start is None and end is None else Window(ticking, start, end)


class NewSchedule(ScheduleDefinition):
    """A schedule to create over HTTP: its definition and a name of its own."""

    name: ScheduleName


class Schedule(BaseModel):
    """A stored schedule: its definition and what became of it. Times are ms since the epoch.

    A schedule with no next tick (past its ``end_at``, its ``max_runs`` run,
    or a cron expression's last year gone by) is finished: nothing fires it.
    """

    name: str
    definition: ScheduleDefinition
    source: Source
    paused: bool = False
    #: Counts every change of the definition; a firing that read another
    #: version claims nothing.
    version: int = 1
    #: The next tick to fire (while paused, the one it would have been); None once finished.
    next_at: int | None
    #: The last tick that ran a job (or the last run asked for now), and that job.
    last_at: int | None = None
    last_job: str | None = None
    #: Ticks that ran a job: what ``max_runs`` counts.
    fired: int = 0
    missed: int = 0
    created_at: int
    changed_at: int

    @property
    def finished(self) -> bool:
        return self.next_at is None

    @property
    def state(self) -> ScheduleState:
        if self.finished:
            return ScheduleState.FINISHED
        return ScheduleState.PAUSED if self.paused else ScheduleState.RUNNING

    @property
    def runs_left(self) -> int | None:
        """How many more ticks may run a job (None: no limit)."""
        most = self.definition.max_runs
        return None if most is None else max(0, most - self.fired)

    def next_runs(self, count: int) -> list[int]:
        """Its next ``count`` ticks (fewer when it has no more); none while paused."""
        if self.paused or self.next_at is None:
            return []
        if self.runs_left is not None:
            count = min(count, self.runs_left)
        trigger = self.definition.trigger()
        runs = [self.next_at][:count]
        while len(runs) < count and (tick := following(trigger, runs[-1])) is not None:
            runs.append(tick)
        return runs

    def following(self, t: int) -> int | None:
        """The tick it fires next after ``t``: None when it has no more (or no run left)."""
        if self.runs_left == 0:
            return None
        return following(self.definition.trigger(), t)


class HistoryEntry(BaseModel):
    """One line of a schedule's history: a job fired, ticks missed, a change by a person."""

    kind: Literal[
        "fired", "run_now", "missed", "finished", "created", "updated", "paused", "resumed"
    ]
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

    ``run`` may give the job's ``args``, ``kwargs`` and ``options``; the
    ``misfire`` policy and ``grace`` (seconds) after downtime; and when it
    ends: ``start_at`` and ``end_at`` (datetimes with a zone), ``max_runs``.
    """
    return _declare({"every": period}, run)


def cron(expression: str, *, tz: str = "UTC", **run: Any) -> Declared:
    """Run a job at the times of ``expression`` on the wall clock of the IANA zone ``tz``."""
    return _declare({"cron": expression, "tz": tz}, run)


def _declare(when: dict[str, Any], run: dict[str, Any]) -> Declared:
    declared = Declared(when, run)
    declared.definition("check")  # a bad period or expression fails at import
    return declared


def epoch_ms(at: datetime) -> int:
    """A time as schedules keep times: milliseconds since the epoch."""
    return int(at.timestamp() * 1000)
