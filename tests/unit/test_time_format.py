"""Records and events tell times one way: ISO 8601, in UTC, to the millisecond."""

from __future__ import annotations

import json
from datetime import datetime

from tests.support import sse_events


def test_an_events_times_are_written_as_the_records(client):
    submitted = client.simulate_post(
        "/jobs", json={"actor": "add", "args": [1, 2], "options": {"delay": 60}}
    ).json
    cancelled = client.simulate_delete(f"/jobs/{submitted['id']}").json

    stream = client.simulate_get(f"/jobs/{submitted['id']}/events")
    [event] = [json.loads(fields["data"]) for fields in sse_events(stream.text.splitlines())]

    assert event["state"] == "cancelled"
    assert event["at"] == cancelled["finished_at"] == event["finished_at"]
    assert datetime.fromisoformat(event["at"]).utcoffset().total_seconds() == 0
    assert datetime.fromisoformat(submitted["enqueued_at"]) <= datetime.fromisoformat(event["at"])
