"""The client reads what the API publishes: its models have the API's fields, and its values."""

from __future__ import annotations

import json

import jobqueue_client
import pytest
from pydantic import BaseModel

from actors.lanes import PRIORITIES
from actors.record import Failure, Progress
from actors.states import TERMINAL_STATES, State
from services.api import models


@pytest.mark.parametrize(
    "api_model",
    [
        models.Job,
        models.JobList,
        models.BatchResult,
        models.JobEvent,
        models.Actor,
        models.ActorList,
        models.Parameter,
        models.Problem,
        Progress,
        Failure,
    ],
    ids=lambda model: model.__name__,
)
def test_each_published_model_has_its_client_twin(api_model: type[BaseModel]):
    published = api_model.model_json_schema(mode="serialization")["properties"]
    twin = getattr(jobqueue_client.models, api_model.__name__)

    assert set(twin.model_fields) == set(published)


def test_the_client_reads_a_record_as_the_api_shows_it():
    record = models.Job.model_validate(
        {
            "id": "1",
            "actor": "add",
            "state": "succeeded",
            "args": [1, 2],
            "options": {"delay": 0, "max_retries": 3, "time_limit": 600, "priority": "high"},
            "enqueued_at": "2026-12-06T22:00:00.000+00:00",
            "finished_at": "2026-12-06T22:00:01.500+00:00",
            "progress": {"value": 1, "message": "done"},
            "result": 3,
            "links": {"self": "/jobs/1", "events": "/jobs/1/events"},
        }
    )

    job = jobqueue_client.Job.model_validate_json(record.model_dump_json())

    assert job.state is jobqueue_client.State.SUCCEEDED and job.ended
    assert (job.finished_at - job.enqueued_at).total_seconds() == 1.5
    assert job.progress.value == 1.0
    assert (job.options.max_retries, job.options.time_limit) == (3, 600)
    assert job.options.priority is jobqueue_client.Priority.HIGH


def test_the_client_writes_a_record_and_an_event_back_as_the_api_wrote_them():
    written = models.Job.model_validate(
        {
            "id": "1",
            "actor": "add",
            "state": "running",
            "options": {"delay": 0, "max_retries": 3, "time_limit": 600, "priority": "normal"},
            "enqueued_at": "2026-12-06T22:00:00.000+00:00",
            "started_at": "2026-12-06T22:00:01.500+00:00",
            "updated_at": "2026-12-06T22:00:01.501+00:00",
            "links": {"self": "/jobs/1", "events": "/jobs/1/events"},
        }
    ).model_dump_json()
    event = models.JobEvent(state=State.RUNNING, at="2026-12-06T22:00:01.500+00:00")

    # What jobqueue --json prints: the same fields, and times spelled alike.
    read = jobqueue_client.Job.model_validate_json(written)
    assert json.loads(read.model_dump_json()) == json.loads(written)
    read_event = jobqueue_client.models.JobEvent.model_validate_json(event.model_dump_json())
    assert json.loads(read_event.model_dump_json())["at"] == "2026-12-06T22:00:01.500+00:00"


def test_the_client_reads_every_option_a_record_shows():
    published = models.RunOptions.model_json_schema(mode="serialization")["properties"]

    assert set(jobqueue_client.models.JobOptions.model_fields) == set(published)


def test_the_client_knows_every_state_and_priority_and_which_states_end_a_job():
    assert [state.value for state in jobqueue_client.State] == [state.value for state in State]
    assert {state.value for state in jobqueue_client.State if state.ended} == set(TERMINAL_STATES)
    assert [p.value for p in jobqueue_client.models.Priority] == list(PRIORITIES)
