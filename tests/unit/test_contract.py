"""The API's contract, without Redis: models, how a refusal reads, and the OpenAPI build."""

from __future__ import annotations

import json
from types import SimpleNamespace

import falcon
import falcon.asgi
import pytest
from falcon import testing
from pydantic import ValidationError

from actors import lifecycle, specs
from actors.job_request import JobOptions, JobRequest
from actors.record import JobRecord
from actors.registry import JobDefaults
from services.api import media, models, openapi
from services.api.contract import Operation, Response


class Echo:
    """A resource reading its query and body through one declared operation."""

    operations = {
        "post": Operation(
            "Echo",
            body=models.submission({"add": specs()["add"]}, max_time_limit=600),
            query=models.ListQuery,
            responses={200: Response("The request", JobRequest), 422: "It does not fit"},
        )
    }

    async def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        operation = self.operations["post"]
        query = operation.read_query(req)
        resp.media = {"limit": query.limit, "body": (await operation.read_body(req)).model_dump()}


@pytest.fixture
def echo() -> testing.TestClient:
    app = falcon.asgi.App()
    app.req_options.media_handlers[falcon.MEDIA_JSON] = media.handler
    app.add_route("/echo", Echo())
    return testing.TestClient(app)


def test_an_operation_reads_its_query_and_body_with_defaults(echo):
    result = echo.simulate_post("/echo", json={"actor": "add", "args": [1, 2]})

    assert result.status_code == 200, result.text
    assert result.json["limit"] == 50
    assert result.json["body"]["options"] == {
        "delay": 0,
        "max_retries": None,
        "time_limit": None,
        "priority": "normal",
    }


@pytest.mark.parametrize(
    ("params", "body", "status", "detail"),
    [
        ({}, {"actor": "sub"}, 422, "actor: 'sub' is not one of ['add']"),
        ({}, {}, 422, "the body: 'actor' is a required property"),
        ({}, {"actor": "add", "options": {"delay": "1"}}, 422, "'1' is not of type 'number'"),
        ({}, {"actor": "add", "x": 1}, 422, "the body: Additional properties are not allowed"),
        # A name shaped like pydantic's union tags is still the client's own.
        ({}, {"actor": "add", "x-extra": 1}, 422, "('x-extra' was unexpected)"),
        ({"limit": "0"}, {"actor": "add"}, 400, "limit: Input should be greater than or equal"),
        ({"state": "asleep"}, {"actor": "add"}, 400, "state must be one of 'waiting', 'queued'"),
    ],
)
def test_a_request_that_does_not_fit_is_refused_naming_where(echo, params, body, status, detail):
    result = echo.simulate_post("/echo", params=params, json=body)

    assert result.status_code == status
    assert detail in result.json["description"]


@pytest.mark.parametrize(
    "text", ["NaN", "[Infinity]", "-Infinity", "1e400", "[" * 100_000], ids=str.__len__
)
def test_the_json_reader_refuses_what_python_reads_but_json_is_not(text):
    with pytest.raises(ValueError):
        media.loads(text)


@pytest.mark.parametrize(
    ("value", "valid"),
    [("0-0", True), ("1700000000000-3", True), ("18446744073709551616-0", False), ("1-1\n", False)],
)
def test_a_stream_id_is_two_unsigned_64_bit_numbers(value, valid):
    if valid:
        assert models.ListQuery.model_validate({"cursor": value}).cursor == value
    else:
        with pytest.raises(ValidationError):
            models.ListQuery.model_validate({"cursor": value})


#: What the view of a record asks of a queue: its jobs, and the service's defaults.
QUEUE = SimpleNamespace(specs=specs(), defaults=JobDefaults(max_retries=5, time_limit_ms=90_000))


def test_the_view_of_a_job_shows_every_field_of_its_record_but_the_broker_s():
    record = lifecycle.submit(JobRequest(actor="add", args=[1, 2]), job_id="j1", queue="default")

    view = json.loads(media.dumps(models.Job.of(record, QUEUE)))

    assert set(view) == set(JobRecord.model_fields) - {"redis_message_id"} | {"links"}
    assert view["enqueued_at"].endswith("+00:00")
    assert view["links"] == {"self": "/jobs/j1", "events": "/jobs/j1/events"}


@pytest.mark.parametrize(
    ("actor", "submitted", "shown"),
    [
        # Nothing asked, nothing declared: the service's defaults.
        ("add", {}, {"max_retries": 5, "time_limit": 90.0}),
        # Declared by the job (count_slowly: max_retries=0), the rest the service's.
        ("count_slowly", {}, {"max_retries": 0, "time_limit": 90.0}),
        # Asked for in the request: what was asked.
        (
            "count_slowly",
            {"max_retries": 2, "time_limit": 1.5},
            {"max_retries": 2, "time_limit": 1.5},
        ),
        # A job no module here declares: nobody here knows what applies.
        ("gone", {}, {"max_retries": None, "time_limit": None}),
    ],
)
def test_a_record_shows_the_options_that_apply_never_null_for_a_known_job(actor, submitted, shown):
    request = JobRequest(actor=actor, options=JobOptions(**submitted, priority="low"))
    record = lifecycle.submit(request, job_id="j1", queue="default")

    options = models.Job.of(record, QUEUE).model_dump(mode="json")["options"]

    assert options == {"delay": 0, "priority": "low", **shown}


class Undocumented:
    def on_get(self, req, resp) -> None: ...


class HalfDocumented:
    operations = {"get": Operation("Read", responses={200: Response("It")})}

    def on_get(self, req, resp) -> None: ...

    def on_delete(self, req, resp) -> None: ...


@pytest.mark.parametrize(
    ("resource", "complaint"),
    [(Undocumented(), "declares no operations"), (HalfDocumented(), "on_delete is not declared")],
)
def test_a_route_served_without_a_contract_fails_the_build(resource, complaint):
    with pytest.raises(ValueError, match=complaint):
        openapi.build([("/thing", resource)], title="t", version="1")


def test_models_are_named_components_and_parameters_stand_alone():
    document = openapi.build([("/echo", Echo())], title="t", version="1")

    post = document["paths"]["/echo"]["post"]
    schemas = document["components"]["schemas"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobSubmission"
    }
    # A model used inside another is named too: the request's options.
    assert schemas["JobSubmission"]["properties"]["options"] == {
        "$ref": "#/components/schemas/SubmissionOptions"
    }
    assert {"JobRequest", "Problem", "SubmissionOptions"} <= set(schemas)
    assert "$defs" not in json.dumps(document)
    parameters = {p["name"]: p for p in document["paths"]["/echo"]["post"]["parameters"]}
    # An optional parameter is absent when not given, never null.
    assert parameters["state"]["schema"]["type"] == "string"
    assert "503" in document["paths"]["/echo"]["post"]["responses"]
