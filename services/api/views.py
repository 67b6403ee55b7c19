"""How job records look to API clients."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_TIMES = ("enqueued_at", "eta", "started_at", "finished_at", "updated_at")
_FIELDS = (
    "id",
    "actor",
    "queue",
    "state",
    "args",
    "kwargs",
    "options",
    "attempts",
    *_TIMES,
    "progress",
    "result",
    "error",
)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def job_view(record: dict[str, Any]) -> dict[str, Any]:
    """The public view of a job record: every field, times as ISO 8601."""
    view = {name: record.get(name) for name in _FIELDS}
    for name in _TIMES:
        view[name] = iso(view[name])
    view["attempts"] = view["attempts"] or 0
    view["links"] = {"self": f"/jobs/{record['id']}", "events": f"/jobs/{record['id']}/events"}
    return view
