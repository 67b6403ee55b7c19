"""Schedules kept in Redis with the jobs: their definitions, next ticks and histories.

Keys, under the job store's namespace:

* ``<ns>:schedule:<name>`` a hash: ``definition`` (JSON), ``source``,
  ``paused``, ``version``, ``next_at`` ("" once finished), ``last_at``,
  ``last_job``, ``fired``, ``missed``, ``created_at``, ``changed_at``.
* ``<ns>:schedule:<name>:history`` a stream of what happened, newest last.
* ``<ns>:schedules`` a sorted set of every schedule's name.
* ``<ns>:schedules:due`` a sorted set of the running schedules by next tick:
  what the firers poll (neither paused nor finished ones).

Every change is one script call (``lua/``), so a definition, its next tick
and its history never disagree, and a tick's jobs are written in the same
call that claims it (``lua/fire.lua``). As the job store's, each operation
is written once (``actors/calls.py``): workers and the dashboard run it on a
blocking client, the API awaits it on an asyncio one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from ..calls import redis_calls
from ..storage.codecs import ScheduleChange, ScheduleFire, ScheduleSave
from ..storage.lua import source
from ..store import JobStore, NewJob
from .definition import HistoryEntry, Schedule, ScheduleDefinition, Source

#: How many entries a schedule's history keeps.
HISTORY_LENGTH = 500
_LUA = Path(__file__).with_name("lua")


class Saved(IntEnum):
    """What saving a definition did (``lua/save.lua``'s reply)."""

    CREATED = 1
    UPDATED = 2
    UNCHANGED = 3
    NAME_TAKEN = 0
    MISSING = -1
    OTHER_SOURCE = -2
    MOVED = -3


@dataclass(frozen=True)
class Firing:
    """What a firer writes for a schedule it read: its jobs, misses and next tick."""

    #: The next_at and version read; ``claimed`` None runs jobs now, claiming no tick.
    claimed: int | None
    version: int
    #: None: it has no more ticks, and is finished.
    next_at: int | None
    #: The definition's, checked against the ticks fired in the same call.
    max_runs: int | None
    missed: int
    jobs: Sequence[NewJob]
    history: Sequence[dict[str, Any]]
    last_at: int | None = None
    last_job: str | None = None


class ScheduleStore:
    """Reads and writes schedules in the job store's Redis, under its namespace."""

    def __init__(self, jobs: JobStore):
        self.jobs = jobs
        self.client = jobs.client
        self.run = jobs.run
        self.keys = jobs.keys
        self._fire = self.client.register_script(source(_LUA / ScheduleFire.FILE))
        self._save = self.client.register_script(source(_LUA / ScheduleSave.FILE))
        self._change = self.client.register_script(source(_LUA / ScheduleChange.FILE))

    # Keys ---------------------------------------------------------------

    def key(self, name: str) -> str:
        return self.keys.schedule(name)

    def history_key(self, name: str) -> str:
        return self.keys.schedule_history(name)

    @property
    def all_key(self) -> str:
        return self.keys.schedules

    @property
    def due_key(self) -> str:
        return self.keys.schedules_due

    # Reading ------------------------------------------------------------

    @redis_calls
    def get(self, name: str) -> Schedule | None:
        return _decode(name, (yield self.client.hgetall(self.key(name))))

    @redis_calls
    def list(self) -> list[Schedule]:
        """Every schedule, by name."""
        names = [_text(name) for name in (yield self.client.zrange(self.all_key, 0, -1))]
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.key(name))
        stored = yield pipe.execute()
        found = [_decode(name, raw) for name, raw in zip(names, stored, strict=True)]
        return [schedule for schedule in found if schedule is not None]

    @redis_calls
    def history(self, name: str, count: int = 50) -> list[HistoryEntry]:
        """The latest ``count`` entries of a schedule's history, newest first."""
        entries = yield self.client.xrevrange(self.history_key(name), count=count)
        return [
            HistoryEntry.model_validate(
                {_text(field): _field(_text(value)) for field, value in fields.items()}
            )
            for _entry_id, fields in entries
        ]

    @redis_calls
    def due(self, now: int, limit: int = 100) -> list[str]:
        """The running schedules whose next tick is at or before ``now``, most overdue first."""
        names = yield self.client.zrangebyscore(self.due_key, "-inf", now, start=0, num=limit)
        return [_text(name) for name in names]

    @redis_calls
    def next_tick(self) -> int | None:
        """The earliest next tick of all running schedules, or None when none runs."""
        first = yield self.client.zrange(self.due_key, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    # Writing ------------------------------------------------------------

    @redis_calls
    def save(
        self,
        name: str,
        definition: ScheduleDefinition,
        *,
        mode: str,
        source: Source,
        next_at: int | None,
        now: int,
        read_next_at: int | None = None,
    ) -> Saved:
        """Create (``mode="create"``), replace or declare a definition (``lua/save.lua``)."""
        call = ScheduleSave.call(
            self.keys,
            name,
            mode=mode,
            definition_json=definition.model_dump_json(),
            source=source,
            next_at=next_at,
            now=now,
            history_length=HISTORY_LENGTH,
            read_next_at=read_next_at,
        )
        return Saved((yield self._save(keys=call.keys, args=call.args)))

    @redis_calls
    def change(self, name: str, change: str, *, now: int, next_at: int | None = None) -> int:
        """Pause, resume or delete: 1 done, 0 already so, -1 no such schedule."""
        call = ScheduleChange.call(
            self.keys, name, change, now=now, next_at=next_at, history_length=HISTORY_LENGTH
        )
        return (yield self._change(keys=call.keys, args=call.args))

    @redis_calls
    def fire(self, name: str, firing: Firing) -> int:
        """Claim the ticks read and write their jobs in one call: 1 fired, 0 lost, -1 gone."""
        call = ScheduleFire.call(self.jobs.writes, name, firing, history_length=HISTORY_LENGTH)
        return (yield self._fire(keys=call.keys, args=call.args))


def _decode(name: str, raw: dict[bytes, bytes]) -> Schedule | None:
    if not raw:
        return None
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return Schedule(
        name=name,
        definition=ScheduleDefinition.model_validate_json(fields["definition"]),
        source=Source(fields["source"]),
        paused=fields.get("paused") == "1",
        version=int(fields.get("version", 1)),
        next_at=int(fields["next_at"]) if fields["next_at"] else None,
        last_at=int(fields["last_at"]) if fields.get("last_at") else None,
        last_job=fields.get("last_job") or None,
        fired=int(fields.get("fired", 0)),
        missed=int(fields.get("missed", 0)),
        created_at=int(fields["created_at"]),
        changed_at=int(fields["changed_at"]),
    )


def _field(value: str) -> Any:
    return int(value) if value.lstrip("-").isdigit() else value


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
