"""Priority lanes: each job runs from one queue per priority, most urgent first."""

from __future__ import annotations

#: Priority lanes, most urgent first, with the dramatiq actor priority each
#: lane's messages get (lower runs first).
PRIORITIES = {"high": 0, "normal": 10, "low": 20}
DEFAULT_PRIORITY = "normal"


def lane(name: str, priority: str) -> str:
    """The actor (and queue) name of a job, or of a queue, in a priority lane.

    Normal priority is the plain name, so that messages sent the ordinary
    dramatiq way land in the normal lane.
    """
    return name if priority == DEFAULT_PRIORITY else f"{name}-{priority}"


def job_name(actor_name: str) -> str:
    """The job an actor runs, whatever its lane: ``add-high`` runs ``add``.

    A job's name is a Python identifier, so a dash only ever starts a lane suffix.
    """
    for priority in PRIORITIES:
        base = actor_name.removesuffix(f"-{priority}")
        if base != actor_name:
            return base
    return actor_name
