"""``/openapi.json`` is a valid OpenAPI 3.1 document that describes what the API really does.

Real responses, from the app in process with a real Redis and a real worker,
are checked against the schema documented for their status and media type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import falcon.inspect
import pytest
from falcon import testing
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from actors.schedules.definition import ScheduleDefinition, Source
from actors.schedules.store import ScheduleStore
from services.api.app import create_app

from ..support import follow_stream, sse_events, worker_process

#: Documented responses the in-process app cannot be made to give here.
#: 503 needs Redis gone or every stream slot held (tests/unit/test_api.py and
#: the e2e tests cover those).
NOT_PROVOKED = {"503"}


@pytest.fixture
def app(settings, queue):
    return create_app(settings, queue)


@pytest.fixture
def document(app) -> dict:
    result = testing.TestClient(app).simulate_get("/openapi.json")
    assert result.status_code == 200
    return result.json


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises, naming the first error, when it is not


def test_every_served_route_and_method_is_documented(app, document):
    served = {
        (route.path, method.method.lower())
        for route in falcon.inspect.inspect_routes(app)
        for method in route.methods
        if not method.internal
    }
    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert served == documented
    # And something is served: the comparison above is not of two empty sets.
    assert {("/jobs", "post"), ("/jobs/{job_id}/events", "get")} <= served


#: The base URI the document is known by while responses are checked against it.
CONTRACT = "urn:jobqueue:openapi"


def check(document: dict, pointer: list[str], instance, where: str = "") -> None:
    """``instance`` fits the schema at ``pointer`` in ``document``, its ``$ref``s resolved there."""
    registry = Registry().with_resource(CONTRACT, DRAFT202012.create_resource(document))
    escaped = "/".join(part.replace("~", "~0").replace("/", "~1") for part in pointer)
    validator = Draft202012Validator(
        {"$ref": f"{CONTRACT}#/{escaped}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, f"{where}: {errors[0]}"


def test_models_are_named_once_and_used_by_reference(document):
    schemas = document["components"]["schemas"]
    assert {"Job", "JobSubmission", "Problem", "Workflow", "JobEvent"} <= set(schemas)
    submit = document["paths"]["/jobs"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobSubmission"
    }
    assert submit["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Job"
    }
    # Every reference names a schema the document has.
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document))
    assert refs and set(refs) <= set(schemas)


class ContractClient:
    """Sends requests in process and checks each response against the document."""

    def __init__(self, app, document: dict):
        self.client = testing.TestClient(app)
        self.document = document
        self.seen: set[tuple[str, str, str]] = set()

    def request(self, method: str, template: str, path: str | None = None, **kwargs):
        if template.endswith("/events") and method == "GET":
            result = follow_stream(self.client, path or template, headers=kwargs.get("headers"))
        else:
            result = self.client.simulate_request(method, path or template, **kwargs)
        operation = self.document["paths"][template][method.lower()]
        status = str(result.status_code)
        assert status in operation["responses"], (
            f"{method} {path or template} answered {status}, which is not documented: "
            f"{result.text[:300]}"
        )
        content = operation["responses"][status].get("content", {})
        media_type = result.headers.get("content-type", "").split(";")[0]
        where = f"{method} {path or template} {status}"
        # Where the response's schema is in the document.
        schema = ["paths", template, method.lower(), "responses", status, "content"]
        schema += [media_type, "schema"]
        if not content:
            assert result.text == "", f"{where} is documented without a body"
        elif media_type == "text/event-stream" and media_type in content:
            # Each event is checked, as OpenAPI 3.2 (and schemathesis) read the schema.
            events = list(sse_events(result.text.splitlines()))
            assert events, f"{where} sent no events"
            data = [*schema, "properties", "data", "contentSchema"]
            for event in events:
                check(self.document, schema, event, f"{where} event {event}")
                check(self.document, data, json.loads(event["data"]), f"{where} data {event}")
        else:
            assert media_type in content, f"{where} is {media_type}; documented: {list(content)}"
            body = json.loads(result.text) if media_type.endswith("json") else result.text
            check(self.document, schema, body, where)
        self.seen.add((template, method.lower(), status))
        if method == "GET" and "head" in self.document["paths"][template]:
            head = self.request("HEAD", template, path, **kwargs)
            assert head.status_code == result.status_code, f"HEAD {path or template}"
        return result

    def documented(self) -> Iterator[tuple[str, str, str]]:
        for template, operations in self.document["paths"].items():
            for method, operation in operations.items():
                for status in operation["responses"]:
                    yield template, method, status


def test_real_responses_match_the_documented_schemas(app, document, settings, queue):
    api = ContractClient(app, document)
    job = "/jobs/{job_id}"
    retry = "/jobs/{job_id}/retry"
    events = "/jobs/{job_id}/events"
    json_type = "application/json"

    api.request("GET", "/")
    api.request("GET", "/healthz")
    api.request("GET", "/readyz")
    api.request("GET", "/openapi.json")
    api.request("GET", "/actors")
    api.request("GET", "/template", params={"name": "contract"})
    api.request("GET", "/template", params={"name": "x" * 501})

    # Submitting, and every way of getting it wrong.
    queued = api.request("POST", "/jobs", json={"actor": "add", "args": [1, 2]}).json["id"]
    key = {"Idempotency-Key": "contract"}
    api.request("POST", "/jobs", json={"actor": "add", "args": [2, 2]}, headers=key)
    api.request("POST", "/jobs", json={"actor": "add", "args": [2, 2]}, headers=key)
    api.request("POST", "/jobs", body="{", content_type=json_type)
    api.request("POST", "/jobs", body="{}", content_type="text/plain")
    api.request(
        "POST", "/jobs", body=" " * (settings.max_request_bytes + 1), content_type=json_type
    )
    api.request("POST", "/jobs", json={"actor": "nope"})
    batch = {"jobs": [{"actor": "add", "args": [1, 1]}, {"actor": "add", "args": [2, 3]}]}
    api.request("POST", "/jobs/batch", json=batch, headers=key)
    api.request("POST", "/jobs/batch", json=batch, headers=key)
    api.request("POST", "/jobs/batch", body="[", content_type=json_type)
    api.request("POST", "/jobs/batch", body="{}", content_type="text/csv")
    api.request(
        "POST", "/jobs/batch", body=" " * (settings.max_request_bytes + 1), content_type=json_type
    )
    api.request("POST", "/jobs/batch", json={"jobs": [{"actor": "add", "args": ["one", 1]}]})

    # Listing.
    api.request("GET", "/jobs", params={"limit": 2})
    api.request("GET", "/jobs", params={"state": "nonsense"})

    # One job, its events, cancelling and retrying, while nothing runs.
    api.request("GET", job, f"/jobs/{queued}")
    api.request("GET", job, f"/jobs/{queued}", params={"wait": "x"})
    api.request("GET", job, "/jobs/missing")
    api.request("GET", events, "/jobs/missing/events")
    api.request("GET", events, f"/jobs/{queued}/events", headers={"Last-Event-ID": "x"})
    api.request("POST", retry, f"/jobs/{queued}/retry")
    api.request("POST", retry, "/jobs/missing/retry")
    api.request("DELETE", job, f"/jobs/{queued}")
    api.request("DELETE", job, f"/jobs/{queued}")
    api.request("DELETE", job, "/jobs/missing")
    streamed = api.request("GET", events, f"/jobs/{queued}/events")
    last_id = list(sse_events(streamed.text.splitlines()))[-1]["id"]
    api.request("GET", events, f"/jobs/{queued}/events", headers={"Last-Event-ID": last_id})

    # With a worker: records with results, progress, errors; a retry that is accepted.
    submitted = {
        "succeeded": {"actor": "add", "args": [2, 3]},
        "progress": {"actor": "count_slowly", "kwargs": {"to": 2, "interval": 0.05}},
        "dead": {"actor": "fail", "options": {"max_retries": 0}},
        "failed": {"actor": "fail", "kwargs": {"permanent": True}},
    }
    ids = {
        name: api.request("POST", "/jobs", json=body).json["id"] for name, body in submitted.items()
    }
    with worker_process(settings):
        ended = {
            name: api.request("GET", job, f"/jobs/{job_id}", params={"wait": 30}).json
            for name, job_id in ids.items()
        }
        states = {name: record.get("state") for name, record in ended.items()}
        assert states == {
            "succeeded": "succeeded",
            "progress": "succeeded",
            "dead": "dead",
            "failed": "failed",
        }, ended
        assert ended["succeeded"]["result"] == 5
        assert ended["progress"]["progress"] == {"value": 1.0, "message": "counted 2 of 2"}
        assert ended["dead"]["error"]["type"] == "RuntimeError"
        for job_id in ids.values():
            api.request("GET", events, f"/jobs/{job_id}/events")
        api.request("POST", retry, f"/jobs/{ids['dead']}/retry")
        api.request("GET", "/jobs", params={"actor": "fail"})

    schedules_answer_as_documented(api, settings, queue)
    workflows_answer_as_documented(api, settings)

    missing = set(api.documented()) - api.seen
    assert {status for _, _, status in missing} <= NOT_PROVOKED, sorted(missing)


def workflows_answer_as_documented(api: ContractClient, settings) -> None:
    """Workflows submitted, listed, followed, cancelled and retried, and refused."""
    one = "/workflows/{workflow_id}"
    retry = "/workflows/{workflow_id}/retry"
    events = "/workflows/{workflow_id}/events"
    json_type = "application/json"
    api.request("POST", "/workflows", body="{", content_type=json_type)
    api.request("POST", "/workflows", body="{}", content_type="text/plain")
    api.request(
        "POST", "/workflows", body=" " * (settings.max_request_bytes + 1), content_type=json_type
    )
    api.request("POST", "/workflows", json={"workflow": {"chain": [{"actor": "nope"}]}})
    chain = {
        "chain": [{"actor": "add", "args": [1, 2]}, {"group": [{"actor": "add", "args": [3]}]}]
    }
    running = api.request("POST", "/workflows", json={"workflow": chain}).json["id"]
    api.request("GET", "/workflows", params={"limit": 1})
    api.request("GET", "/workflows", params={"state": "asleep"})
    api.request("GET", one, f"/workflows/{running}")
    api.request("GET", one, "/workflows/missing")
    api.request("GET", events, "/workflows/missing/events")
    api.request("GET", events, f"/workflows/{running}/events", headers={"Last-Event-ID": "x"})
    api.request("POST", retry, f"/workflows/{running}/retry")
    api.request("POST", retry, "/workflows/missing/retry")
    api.request("DELETE", one, f"/workflows/{running}")
    api.request("DELETE", one, f"/workflows/{running}")
    api.request("DELETE", one, "/workflows/missing")
    streamed = api.request("GET", events, f"/workflows/{running}/events")
    last_id = list(sse_events(streamed.text.splitlines()))[-1]["id"]
    api.request("GET", events, f"/workflows/{running}/events", headers={"Last-Event-ID": last_id})
    api.request("POST", retry, f"/workflows/{running}/retry")
    api.request("GET", "/workflows", params={"state": "running"})


def schedules_answer_as_documented(api: ContractClient, settings, queue) -> None:
    """Schedules created, read, replaced, paused, resumed, run and deleted, and refused."""
    one = "/schedules/{name}"
    json_type = "application/json"
    nightly = {"actor": "add", "args": [1, 2], "cron": "0 3 * * *", "tz": "Europe/Berlin"}
    too_large = " " * (settings.max_request_bytes + 1)
    for method, path, template in (
        ("POST", "/schedules", "/schedules"),
        ("PUT", "/schedules/x", one),
    ):
        api.request(method, template, path, body="{", content_type=json_type)
        api.request(method, template, path, body="{}", content_type="text/plain")
        api.request(method, template, path, body=too_large, content_type=json_type)
        api.request(method, template, path, json={**nightly, "cron": "never"})
    api.request("POST", "/schedules", json={"name": "nightly", **nightly})
    api.request("POST", "/schedules", json={"name": "nightly", **nightly})
    api.request("GET", "/schedules")
    api.request("PUT", one, "/schedules/nightly", json={**nightly, "every": "1h", "cron": None})
    api.request("PUT", one, "/schedules/missing", json=nightly)
    for action in ("pause", "resume"):
        api.request("POST", f"/schedules/{{name}}/{action}", f"/schedules/nightly/{action}")
        api.request("POST", f"/schedules/{{name}}/{action}", f"/schedules/missing/{action}")
    api.request("POST", "/schedules/{name}/run", "/schedules/nightly/run")
    api.request("POST", "/schedules/{name}/run", "/schedules/missing/run")
    api.request("GET", one, "/schedules/nightly")
    api.request("GET", one, "/schedules/missing")
    api.request("DELETE", one, "/schedules/nightly")
    api.request("DELETE", one, "/schedules/missing")
    # One declared in code, whose job has gone since: changed in code only, and run no more.
    store = ScheduleStore(queue.store)
    store.save(
        "gone",
        ScheduleDefinition(actor="gone", every="1h"),
        mode="declare",
        source=Source.CODE,
        next_at=0,
        now=0,
    )
    api.request("PUT", one, "/schedules/gone", json=nightly)
    api.request("DELETE", one, "/schedules/gone")
    api.request("POST", "/schedules/{name}/run", "/schedules/gone/run")
    # One whose cron expression's last year has gone by, paused: it cannot resume.
    past = ScheduleDefinition(actor="add", args=[1, 2], cron="0 0 1 1 * 0 2020")
    store.save("past", past, mode="create", source=Source.API, next_at=0, now=0)
    store.change("past", "pause", now=0)
    api.request("POST", "/schedules/{name}/resume", "/schedules/past/resume")
