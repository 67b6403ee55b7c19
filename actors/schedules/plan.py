"""Which due ticks of a schedule get a job: on time ones always, late ones as its policy says.

A firer that finds a schedule due asks :func:`plan` what to do with every
tick from the schedule's ``next_at`` up to now. Nothing here talks to Redis
or reads a clock, so the policies are tested with any time one likes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .definition import Misfire
from .triggers import Trigger, following, ticks

#: A tick found at most this late is on time and runs, whatever the policy:
#: a firer busy for a moment, not downtime.
ON_TIME_MS = 60_000
#: The most jobs one firing creates; the rest are left due for the next.
MAX_JOBS_PER_FIRING = 500


@dataclass(frozen=True)
class Plan:
    """The ticks that run a job, the ones that do not, and the tick due next."""

    fire: list[int]
    missed: int
    #: The first and last of the missed ticks (None when none was).
    first_missed: int | None
    last_missed: int | None
    #: None when there is none: the schedule is finished.
    next_at: int | None


def plan(
    trigger: Trigger,
    due: int,
    now: int,
    misfire: Misfire,
    grace_ms: int,
    runs_left: int | None = None,
) -> Plan:
    """What to do with the ticks of ``trigger`` in ``[due, now]``, ``runs_left`` at most.

    Ticks more than ``ON_TIME_MS`` late were missed: ``skip`` runs none of
    them, ``run_once`` the latest, ``run_all`` each within ``grace_ms`` of
    ``now``. Missed ticks are counted, never listed: a per-second schedule
    down for a week has 600,000 of them. The tick that uses up the runs
    left is the last: none follows it.
    """
    if runs_left == 0:
        return Plan([], 0, None, None, None)
    late_until = now - ON_TIME_MS - 1
    fire: list[int] = []
    # The late ticks up to missed_until get no job; those after listed_from do.
    missed_until = late_until
    if misfire is Misfire.RUN_ONCE:
        latest = trigger.last(due, late_until)
        if latest is not None:
            fire.append(latest)
            missed_until = latest - 1
    elif misfire is Misfire.RUN_ALL:
        missed_until = min(late_until, now - grace_ms - 1)
    missed = trigger.count(due, missed_until)
    listed_from = max(due, late_until + 1 if fire else missed_until + 1)
    fire += _listed(trigger, listed_from, now, MAX_JOBS_PER_FIRING + 1 - len(fire))
    next_at: int | None
    if runs_left is not None and len(fire) >= runs_left:
        fire, next_at = fire[:runs_left], None
    elif len(fire) > MAX_JOBS_PER_FIRING:
        # Past the most: due again at once, the next firing takes up from the first left.
        next_at = fire.pop()
    else:
        next_at = following(trigger, now)
    return Plan(
        fire,
        missed,
        trigger.after(due - 1) if missed else None,
        trigger.last(due, missed_until) if missed else None,
        next_at,
    )


def _listed(trigger: Trigger, start: int, end: int, most: int) -> list[int]:
    """Up to ``most`` ticks in ``[start, end]``, in order."""
    listed = []
    for tick in ticks(trigger, start, end):
        listed.append(tick)
        if len(listed) == most:
            break
    return listed
