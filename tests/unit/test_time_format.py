"""Records and events tell times one way: ISO 8601, in UTC, to the millisecond.

Every event stream does: a job's and a workflow's, the API's and the
dashboard's (which serves the same operations behind its credentials).
"""

from __future__ import annotations

import json
from datetime import datetime

from tests.support import follow_stream, sse_events


def streamed(result) -> list[dict]:
    return [
        {**fields, "data": json.loads(fields["data"])}
        for fields in sse_events(result.text.splitlines())
    ]


def utc(value: str) -> datetime:
    """``value`` read as ISO 8601; it must say UTC."""
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset().total_seconds() == 0, value
    return moment


def test_an_events_times_are_written_as_the_records(client, admin):
    submitted = client.simulate_post(
        "/jobs", json={"actor": "add", "args": [1, 2], "options": {"delay": 60}}
    ).json
    cancelled = client.simulate_delete(f"/jobs/{submitted['id']}").json

    [event] = streamed(follow_stream(client, f"/jobs/{submitted['id']}/events"))
    data = event["data"]

    assert data["state"] == "cancelled"
    assert data["at"] == cancelled["finished_at"] == data["finished_at"]
    assert utc(submitted["enqueued_at"]) <= utc(data["at"])
    # The dashboard's stream sends the very same event.
    assert streamed(admin.simulate_get(f"/admin/jobs/{submitted['id']}/events")) == [event]


def test_a_workflows_events_are_written_as_its_record(client, admin):
    chain = {"chain": [{"actor": "add", "args": [1, 2]}, {"actor": "add", "args": [3]}]}
    submitted = client.simulate_post("/workflows", json={"workflow": chain}).json
    cancelled = client.simulate_delete(f"/workflows/{submitted['id']}").json

    events = streamed(follow_stream(client, f"/workflows/{submitted['id']}/events"))

    assert events and events[-1]["data"]["state"] == "cancelled"
    assert events[-1]["data"]["at"] == cancelled["finished_at"]
    for event in events:
        assert utc(submitted["created_at"]) <= utc(event["data"]["at"])
    # The dashboard's stream sends the very same events.
    assert streamed(admin.simulate_get(f"/admin/workflows/{submitted['id']}/events")) == events
