"""What people and code do to schedules: create, replace, pause, resume, delete, run now,
and declare the schedules of ``@job`` at a worker's start.

A schedule declared in code is named after its job and belongs to the
code: a start with a changed declaration updates it (its history, counts
and pause kept; ticks already fired never fire again), and one whose job
no longer declares a schedule is deleted. Over HTTP such a schedule can be
paused, resumed and run, not replaced or deleted.

Each operation runs on the queue's store client, as the store's do
(``actors/calls.py``): awaited in the API, blocking in workers and the dashboard.
"""

from __future__ import annotations

import logging
import time

from ..broker import Queue
from ..calls import Steps, redis_calls
from ..record import JobRecord
from ..submission import InvalidJob, check
from .definition import Schedule, ScheduleDefinition, Source
from .firing import Clock, Firer
from .store import Saved, ScheduleStore
from .triggers import InvalidTrigger, NoMoreTicks, following

logger = logging.getLogger(__name__)


class ScheduleError(Exception):
    """A change refused: the schedule exists already, does not exist, or belongs to code."""

    def __init__(self, saved: Saved, name: str):
        self.saved = saved
        super().__init__(
            {
                Saved.NAME_TAKEN: f"a schedule named {name!r} exists already",
                Saved.MISSING: f"no schedule is named {name!r}",
                Saved.OTHER_SOURCE: f"the schedule {name!r} is declared in code with its job; "
                "change it there",
            }[saved]
        )


class Schedules:
    """The schedules of a queue.

    Parameters:
      queue: the jobs schedules may run, and where their jobs go.
      clock: seconds since the epoch (``time.time``); tests give their own.
    """

    def __init__(self, queue: Queue, *, clock: Clock = time.time):
        self.queue = queue
        self.store = ScheduleStore(queue.store)
        self.run = self.store.run
        self.firer = Firer(queue, self.store, clock=clock)

    @redis_calls
    def get(self, name: str) -> Schedule:
        schedule = yield from self.store.get.steps(name)
        if schedule is None:
            raise ScheduleError(Saved.MISSING, name)
        return schedule

    @redis_calls
    def create(self, name: str, definition: ScheduleDefinition) -> Schedule:
        """Create a schedule of a public job.

        :class:`~actors.submission.InvalidJob` if the job refuses it,
        :class:`~actors.schedules.triggers.InvalidTrigger` if it has no tick to come.
        """
        self._check(definition, private=False)
        now = self.firer.now()
        next_at = following(definition.trigger(), now)
        if next_at is None:
            raise NoMoreTicks("it has no tick to come: its end_at has passed")
        saved = yield from self.store.save.steps(
            name, definition, mode="create", source=Source.API, next_at=next_at, now=now
        )
        if saved is not Saved.CREATED:
            raise ScheduleError(saved, name)
        return (yield from self.get.steps(name))

    @redis_calls
    def replace(self, name: str, definition: ScheduleDefinition) -> Schedule:
        """Replace a schedule's definition, keeping its history."""
        self._check(definition, private=False)
        yield from self._update(name, definition, Source.API, mode="replace")
        return (yield from self.get.steps(name))

    @redis_calls
    def declare(self) -> dict[str, Saved]:
        """Write the schedules the queue's jobs declare; delete those they no longer do."""
        outcomes = {}
        for spec in self.queue.specs.values():
            if spec.schedule is None:
                existing = yield from self.store.get.steps(spec.name)
                if existing is not None and existing.source is Source.CODE:
                    yield from self.store.change.steps(spec.name, "delete", now=self.firer.now())
                    logger.info("Schedule %s deleted: its job no longer declares it", spec.name)
                continue
            definition = spec.schedule.definition(spec.name)
            try:
                self._check(definition, private=True)
                outcomes[spec.name] = saved = yield from self._update(
                    spec.name, definition, Source.CODE, mode="declare"
                )
            except (InvalidJob, InvalidTrigger) as error:
                # The other schedules are still declared, and this worker still fires them.
                logger.error("Schedule %s declared in code not written: %s", spec.name, error)
                continue
            if saved is Saved.OTHER_SOURCE:
                logger.warning(
                    "Schedule %s declared in code not written: one made over HTTP has its name",
                    spec.name,
                )
        return outcomes

    @redis_calls
    def pause(self, name: str) -> Schedule:
        return (yield from self._change(name, "pause"))

    @redis_calls
    def resume(self, name: str) -> Schedule:
        """Run again from the next tick: ticks that passed while paused never run.

        One with no tick to come (past its end, or its runs run) resumes finished.
        """
        schedule = yield from self.get.steps(name)
        return (yield from self._change(name, "resume", schedule.following(self.firer.now())))

    @redis_calls
    def delete(self, name: str) -> None:
        schedule = yield from self.get.steps(name)
        if schedule.source is Source.CODE:
            raise ScheduleError(Saved.OTHER_SOURCE, name)
        yield from self._change(name, "delete")

    @redis_calls
    def run_now(self, name: str) -> JobRecord:
        """Run the schedule's job now (paused or not); its ticks stay as they are."""
        schedule = yield from self.get.steps(name)
        try:
            return (yield from self.firer.run_now.steps(schedule))
        except LookupError:
            raise ScheduleError(Saved.MISSING, name) from None

    def _check(self, definition: ScheduleDefinition, *, private: bool) -> None:
        check(self.queue.specs.get(definition.actor), definition, private=private)

    def _update(
        self, name: str, definition: ScheduleDefinition, source: Source, *, mode: str
    ) -> Steps[Saved]:
        """Save ``definition``; its next tick follows the last fired, so no tick fires twice."""
        trigger = definition.trigger()
        while True:
            now = self.firer.now()
            existing = yield from self.store.get.steps(name)
            next_at: int | None
            if existing is None:
                next_at, read = following(trigger, now), None
            else:
                read = existing.next_at
                updated = existing.model_copy(update={"definition": definition})
                if existing.next_at is not None and existing.definition.trigger() == trigger:
                    # The same ticks: those still due (after downtime, say) stay due.
                    next_at = existing.next_at if updated.runs_left != 0 else None
                else:
                    next_at = updated.following(max(now, existing.last_at or 0))
            saved = yield from self.store.save.steps(
                name,
                definition,
                mode=mode,
                source=source,
                next_at=next_at,
                now=now,
                read_next_at=read,
            )
            if saved is not Saved.MOVED:
                break  # else it fired or changed since it was read: read it again
        if saved in (Saved.MISSING, Saved.OTHER_SOURCE) and mode == "replace":
            raise ScheduleError(saved, name)
        return saved

    def _change(self, name: str, change: str, next_at: int | None = None) -> Steps[Schedule | None]:
        changed = yield from self.store.change.steps(
            name, change, now=self.firer.now(), next_at=next_at
        )
        if changed == -1:
            raise ScheduleError(Saved.MISSING, name)
        return None if change == "delete" else (yield from self.get.steps(name))
