"""Firing due schedules: any number of firers, exactly one job per tick.

Every worker process runs a :class:`Firer` (see ``middleware.py``); none is
special, so no single process is needed for schedules to fire and killing
any one loses no tick. A firer finds the schedules due, works out which
ticks get a job (``plan.py``), and claims them with their jobs in one script
call (``ScheduleStore.fire``): of firers that read the same tick, one wins
and the others write nothing. A tick's job id is derived from the schedule's
name and the tick, so it names the same job whoever fires it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

import redis

from ..broker import Queue
from ..calls import redis_calls
from ..job_request import JobRequest
from ..record import JobRecord
from ..submission import Creation, InvalidJob, check, prepare
from . import metrics
from .definition import Schedule, ScheduleState
from .plan import plan
from .store import Firing, ScheduleStore

logger = logging.getLogger(__name__)

#: The namespace of the ids of ticks' jobs (uuid5 of "<schedule>@<tick ms>").
TICK_JOBS = uuid.UUID("8d3f8c52-5d0e-4a51-9b6c-0c1f3b2b9e10")
#: The longest a firer sleeps between looks at the due schedules.
POLL_SECONDS = 1.0

Clock = Callable[[], float]


def tick_job_id(schedule: str, tick: int) -> str:
    """The id of the job a schedule's tick runs: the same for every firer."""
    return str(uuid.uuid5(TICK_JOBS, f"{schedule}@{tick}"))


class Firer:
    """Fires the due ticks of every schedule it finds.

    Its operations run on its store's client, as the store's do; the loop
    that fires as time passes (:meth:`fire_until`), a worker's, on a blocking one.

    Parameters:
      queue: the broker, store and jobs the ticks' jobs are made with.
      schedules: where the schedules are kept.
      clock: seconds since the epoch (``time.time``); tests give their own.
    """

    def __init__(self, queue: Queue, schedules: ScheduleStore, *, clock: Clock = time.time):
        self.queue = queue
        self.schedules = schedules
        self.run = schedules.run
        self.clock = clock

    def now(self) -> int:
        return int(self.clock() * 1000)

    @redis_calls
    def fire_due(self) -> int:
        """Fire every schedule due now; the number of jobs this firer created."""
        now = self.now()
        created = 0
        for name in (yield from self.schedules.due.steps(now)):
            created += yield from self.fire.steps(name, now)
        return created

    @redis_calls
    def fire(self, name: str, now: int) -> int:
        """Fire one schedule's ticks due at ``now``; the number of jobs created (0: none due,
        or another firer came first)."""
        schedule = yield from self.schedules.get.steps(name)
        if schedule is None or schedule.state is not ScheduleState.RUNNING:
            return 0
        if now < schedule.next_at:
            return 0
        definition = schedule.definition
        planned = plan(
            definition.trigger(),
            schedule.next_at,
            now,
            definition.misfire,
            int(definition.grace * 1000),
            schedule.runs_left,
        )
        ticks, missed = planned.fire, planned.missed
        job_ids = [tick_job_id(name, tick) for tick in ticks]
        first_missed, last_missed = planned.first_missed, planned.last_missed
        next_at = planned.next_at
        creation = self._jobs(schedule, job_ids) if ticks else Creation([])
        if creation is None:
            # The job cannot be made (it is gone, or its arguments no longer
            # fit): its ticks are missed, and say so, rather than retried forever.
            first_missed = ticks[0] if first_missed is None else first_missed
            last_missed = ticks[-1]
            ticks, job_ids, missed = [], [], missed + len(ticks)
            creation = Creation([])
            # None ran: those it may still run are to come.
            next_at = schedule.following(now)
        history: list[dict[str, int | str]] = []
        if missed:
            history.append(
                {
                    "kind": "missed",
                    "at": now,
                    "count": missed,
                    "first": first_missed,
                    "last": last_missed,
                }
            )
        history += [
            {"kind": "fired", "at": now, "tick": tick, "job": job_id}
            for tick, job_id in zip(ticks, job_ids, strict=True)
        ]
        if next_at is None:
            history.append({"kind": "finished", "at": now})
        firing = Firing(
            claimed=schedule.next_at,
            version=schedule.version,
            next_at=next_at,
            max_runs=definition.max_runs,
            missed=missed,
            jobs=creation.jobs,
            history=history,
            last_at=ticks[-1] if ticks else None,
            last_job=job_ids[-1] if job_ids else None,
        )
        if (yield from self.schedules.fire.steps(name, firing)) != 1:
            return 0
        creation.written(self.queue, [True] * len(creation.jobs))
        metrics.count(name, [now - tick for tick in ticks], missed)
        return len(ticks)

    @redis_calls
    def run_now(self, schedule: Schedule) -> JobRecord:
        """Run a schedule's job now, whatever its ticks (which stay as they are)."""
        creation = self._jobs(schedule, None)
        if creation is None:
            raise InvalidJob(f"the job {schedule.definition.actor!r} cannot be made")
        record = creation.records[0]
        now = self.now()
        firing = Firing(
            claimed=None,
            version=schedule.version,
            next_at=schedule.next_at,
            max_runs=None,
            missed=0,
            jobs=creation.jobs,
            history=[{"kind": "run_now", "at": now, "job": record.id}],
            last_at=now,
            last_job=record.id,
        )
        if (yield from self.schedules.fire.steps(schedule.name, firing)) != 1:
            raise LookupError(schedule.name)
        creation.written(self.queue, [True])
        return record

    def _jobs(self, schedule: Schedule, job_ids: list[str] | None) -> Creation | None:
        """The jobs of ``schedule``, one per id (one with an id of its own for None).

        Private jobs too: one declared over HTTP was checked public then.
        """
        definition = schedule.definition
        try:
            check(self.queue.specs.get(definition.actor), definition, private=True)
        except InvalidJob as error:
            logger.warning("Schedule %s cannot run its job: %s", schedule.name, error)
            return None
        requests: list[JobRequest] = [definition] * (1 if job_ids is None else len(job_ids))
        return prepare(self.queue, requests, job_ids=job_ids)

    def fire_until(self, stop: threading.Event) -> None:
        """Fire due schedules until ``stop`` is set, waking for the next tick due (blocking)."""
        while not stop.is_set():
            try:
                self.fire_due()
                wait = self._until_next_tick()
            except redis.RedisError as error:
                logger.warning("Firing schedules failed, trying again shortly: %s", error)
                wait = POLL_SECONDS
            stop.wait(wait)

    def _until_next_tick(self) -> float:
        next_tick = self.schedules.next_tick()
        if next_tick is None:
            return POLL_SECONDS
        return min(max((next_tick - self.now()) / 1000, 0.01), POLL_SECONDS)
