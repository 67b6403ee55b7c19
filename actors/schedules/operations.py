"""What people and code do to schedules: create, replace, pause, resume, delete, run now,
and declare the schedules of ``@job`` at a worker's start.

A schedule declared in code is named after its job and belongs to the
code: a start with a changed declaration updates it (its history, counts
and pause kept; ticks already fired never fire again), and one whose job
no longer declares a schedule is deleted. Over HTTP such a schedule can be
paused, resumed and run, not replaced or deleted.
"""

from __future__ import annotations

import logging
import time

from ..broker import Queue
from ..lifecycle import JobRecord
from ..submission import InvalidJob, check
from .definition import Schedule, ScheduleDefinition, Source
from .firing import Clock, Firer
from .store import Saved, ScheduleStore
from .triggers import InvalidTrigger

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
        self.firer = Firer(queue, self.store, clock=clock)

    def get(self, name: str) -> Schedule:
        schedule = self.store.get(name)
        if schedule is None:
            raise ScheduleError(Saved.MISSING, name)
        return schedule

    def create(self, name: str, definition: ScheduleDefinition) -> Schedule:
        """Create a schedule of a public job.

        :class:`~actors.submission.InvalidJob` if the job refuses it,
        :class:`~actors.schedules.triggers.InvalidTrigger` if it has no tick to come.
        """
        self._check(definition, private=False)
        now = self.firer.now()
        saved = self.store.save(
            name,
            definition,
            mode="create",
            source=Source.API,
            next_at=definition.trigger().after(now),
            now=now,
        )
        if saved is not Saved.CREATED:
            raise ScheduleError(saved, name)
        return self.get(name)

    def replace(self, name: str, definition: ScheduleDefinition) -> Schedule:
        """Replace a schedule's definition, keeping its history."""
        self._check(definition, private=False)
        self._update(name, definition, Source.API, mode="replace")
        return self.get(name)

    def declare(self) -> dict[str, Saved]:
        """Write the schedules the queue's jobs declare; delete those they no longer do."""
        outcomes = {}
        for spec in self.queue.specs.values():
            if spec.schedule is None:
                existing = self.store.get(spec.name)
                if existing is not None and existing.source is Source.CODE:
                    self.store.change(spec.name, "delete", now=self.firer.now())
                    logger.info("Schedule %s deleted: its job no longer declares it", spec.name)
                continue
            definition = spec.schedule.definition(spec.name)
            try:
                self._check(definition, private=True)
                outcomes[spec.name] = saved = self._update(
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

    def pause(self, name: str) -> Schedule:
        return self._change(name, "pause")

    def resume(self, name: str) -> Schedule:
        """Run again from the next tick: ticks that passed while paused never run."""
        schedule = self.get(name)
        return self._change(name, "resume", schedule.definition.trigger().after(self.firer.now()))

    def delete(self, name: str) -> None:
        schedule = self.get(name)
        if schedule.source is Source.CODE:
            raise ScheduleError(Saved.OTHER_SOURCE, name)
        self._change(name, "delete")

    def run_now(self, name: str) -> JobRecord:
        """Run the schedule's job now (paused or not); its ticks stay as they are."""
        try:
            return self.firer.run_now(self.get(name))
        except LookupError:
            raise ScheduleError(Saved.MISSING, name) from None

    def _check(self, definition: ScheduleDefinition, *, private: bool) -> None:
        check(self.queue.specs.get(definition.actor), definition, private=private)

    def _update(
        self, name: str, definition: ScheduleDefinition, source: Source, *, mode: str
    ) -> Saved:
        """Save ``definition``; its next tick follows the last fired, so no tick fires twice."""
        trigger = definition.trigger()
        while True:
            now = self.firer.now()
            existing = self.store.get(name)
            if existing is None:
                next_at, read = trigger.after(now), None
            elif existing.definition.trigger() == trigger:
                # The same ticks: those still due (after downtime, say) stay due.
                next_at, read = existing.next_at, existing.next_at
            else:
                next_at = trigger.after(max(now, existing.last_at or 0))
                read = existing.next_at
            saved = self.store.save(
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

    def _change(self, name: str, change: str, next_at: int = 0) -> Schedule:
        if self.store.change(name, change, now=self.firer.now(), next_at=next_at) == -1:
            raise ScheduleError(Saved.MISSING, name)
        return self.get(name) if change != "delete" else None  # type: ignore[return-value]
