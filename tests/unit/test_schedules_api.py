"""``/schedules`` in process, on a real Redis: managing schedules as a client does."""

from __future__ import annotations

import pytest

from tests.support import assert_problem

NIGHTLY = {
    "name": "nightly",
    "actor": "add",
    "args": [1, 2],
    "cron": "0 3 * * *",
    "tz": "Europe/Berlin",
}


def create(client, **changes):
    return client.simulate_post("/schedules", json={**NIGHTLY, **changes})


def test_a_created_schedule_is_listed_with_its_next_runs(client):
    created = create(client)

    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/schedules/nightly"
    view = created.json
    assert (view["when"], view["misfire"], view["fired"], view["paused"]) == (
        "cron 0 3 * * * (Europe/Berlin)",
        "run_once",
        0,
        False,
    )
    # 03:00 in Berlin is 01:00 or 02:00 UTC, by the season.
    assert len(view["next_runs"]) == 5
    assert all(run[11:16] in ("01:00", "02:00") for run in view["next_runs"])
    listed = client.simulate_get("/schedules").json["schedules"]
    assert [schedule["name"] for schedule in listed] == ["nightly"]
    detail = client.simulate_get("/schedules/nightly").json
    assert [entry["kind"] for entry in detail["history"]] == ["created"]


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"actor": "nope"}, "actor: 'nope' is not one of"),
        ({"args": ["x", 2]}, "argument 'a' of add"),
        ({"cron": "every night"}, "no cron expression"),
        ({"tz": "Europe/Atlantis"}, "no IANA time zone"),
        ({"every": "5m"}, "either 'every' or 'cron'"),
        ({"name": "no spaces please"}, "name: "),
        ({"options": {"time_limit": 10_000}}, "options/time_limit"),
        ({"misfire": "later"}, "misfire: "),
        ({"grace": 0}, "grace: "),
        ({"cron": "0 0 31 2 *"}, "has no time after"),
        (
            {"start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"},
            "end_at must come after start_at",
        ),
        ({"start_at": "2030-01-01T00:00:00"}, "start_at: Input should have timezone info"),
        ({"end_at": "yesterday"}, "end_at: "),
        (
            {"start_at": "2030-01-01T04:00:00+01:00", "end_at": "2030-01-01T05:00:00+01:00"},
            "no tick up to its end_at",
        ),
        ({"end_at": "2020-01-01T00:00:00Z"}, "no tick to come: its end_at has passed"),
        ({"max_runs": 0}, "max_runs: "),
        # Finite seconds whose milliseconds overflow a float.
        ({"cron": None, "every": 1e308}, "between 1 second and 366 days"),
    ],
)
def test_a_schedule_that_does_not_fit_is_refused_as_a_submission_would_be(client, changes, detail):
    assert_problem(create(client, **changes), 422, detail)
    assert client.simulate_get("/schedules").json == {"schedules": []}


def test_a_name_is_taken_once(client):
    create(client)
    assert_problem(create(client, cron="0 4 * * *"), 409, "exists already")


def test_replacing_pausing_resuming_and_deleting(client):
    create(client)
    replaced = client.simulate_put(
        "/schedules/nightly", json={"actor": "add", "args": [2, 2], "every": "1h"}
    )
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json["when"], replaced.json["args"]) == ("every 1h", [2, 2])

    paused = client.simulate_post("/schedules/nightly/pause")
    assert (paused.json["paused"], paused.json["next_runs"]) == (True, [])
    resumed = client.simulate_post("/schedules/nightly/resume")
    assert resumed.json["paused"] is False
    assert resumed.json["next_runs"][0].endswith(":00:00.000+00:00")

    history = client.simulate_get("/schedules/nightly").json["history"]
    assert [entry["kind"] for entry in history] == ["resumed", "paused", "updated", "created"]
    assert client.simulate_delete("/schedules/nightly").status_code == 204
    assert_problem(client.simulate_get("/schedules/nightly"), 404, "nightly")


def test_start_end_and_run_limit_are_shown_with_the_runs_they_leave(client):
    window = {"start_at": "2030-01-01T00:00:00+01:00", "end_at": "2030-01-03T12:00:00+01:00"}
    created = create(client, **window, max_runs=10)

    assert created.status_code == 201, created.text
    view = created.json
    assert (view["start_at"], view["end_at"]) == (
        "2029-12-31T23:00:00.000+00:00",
        "2030-01-03T11:00:00.000+00:00",
    )
    assert (view["max_runs"], view["runs_left"], view["state"]) == (10, 10, "running")
    # 03:00 in Berlin on the 1st, 2nd and 3rd, and none after the end.
    assert view["next_runs"] == [f"2030-01-0{day}T02:00:00.000+00:00" for day in (1, 2, 3)]

    # A limit of two leaves two runs; without an end they go on.
    definition = {key: value for key, value in NIGHTLY.items() if key != "name"}
    replaced = client.simulate_put(
        "/schedules/nightly", json={**definition, **window, "max_runs": 2}
    )
    assert (replaced.json["runs_left"], len(replaced.json["next_runs"])) == (2, 2)
    unlimited = {**definition, "start_at": window["start_at"]}
    replaced = client.simulate_put("/schedules/nightly", json=unlimited)
    assert (replaced.json["end_at"], replaced.json["runs_left"]) == (None, None)
    assert len(replaced.json["next_runs"]) == 5


def test_a_schedule_shows_the_options_that_apply_and_those_it_declares(client, settings):
    # fail declares max_retries=2; nothing but the service says its time limit.
    created = create(client, actor="fail", args=[], options={"priority": "high"})
    actor = next(a for a in client.simulate_get("/actors").json["actors"] if a["name"] == "fail")

    applies = {"delay": 0, "priority": "high", "max_retries": 2, "time_limit": 600}
    assert (actor["max_retries"], settings.default_time_limit_ms) == (2, 600_000)
    for view in (
        created.json,
        client.simulate_get("/schedules").json["schedules"][0],
        client.simulate_get("/schedules/nightly").json,
    ):
        assert view["options"] == applies
        assert view["declared_options"] == {"delay": 0, "priority": "high"}
    ran = client.simulate_post("/schedules/nightly/run")
    assert client.simulate_get(ran.headers["location"]).json["options"] == applies

    # What it declares, sent back, declares no more: the job's own retries still apply.
    definition = {key: value for key, value in NIGHTLY.items() if key != "name"}
    back = {**definition, "actor": "fail", "args": [], "options": created.json["declared_options"]}
    replaced = client.simulate_put("/schedules/nightly", json=back).json
    assert (replaced["options"], replaced["declared_options"]) == (
        applies,
        created.json["declared_options"],
    )
    asked = {**back, "options": {"max_retries": 0, "time_limit": 2.5}}
    replaced = client.simulate_put("/schedules/nightly", json=asked).json
    assert replaced["options"] == {
        **applies,
        "priority": "normal",
        "max_retries": 0,
        "time_limit": 2.5,
    }
    assert replaced["declared_options"] == replaced["options"]


def test_run_now_submits_an_ordinary_job_and_keeps_the_ticks(client):
    next_runs = create(client).json["next_runs"]

    ran = client.simulate_post("/schedules/nightly/run")

    assert ran.status_code == 202, ran.text
    job = client.simulate_get(ran.headers["location"]).json
    assert (job["actor"], job["args"], job["state"]) == ("add", [1, 2], "queued")
    view = client.simulate_get("/schedules/nightly").json
    # A run asked for now is no tick: it counts toward no max_runs.
    assert (view["last_job"], view["fired"], view["next_runs"]) == (job["id"], 0, next_runs)
    assert view["links"]["last_job"] == f"/jobs/{job['id']}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/schedules/none"),
        ("PUT", "/schedules/none"),
        ("DELETE", "/schedules/none"),
        ("POST", "/schedules/none/pause"),
        ("POST", "/schedules/none/resume"),
        ("POST", "/schedules/none/run"),
    ],
)
def test_no_such_schedule_is_404(client, method, path):
    body = {"actor": "add", "args": [1, 2], "every": 60} if method == "PUT" else None
    assert_problem(client.simulate_request(method, path, json=body), 404, "none")


def test_a_schedule_declared_in_code_is_changed_there_only(client, queue):
    import dataclasses

    from actors import every
    from actors.schedules.operations import Schedules

    add = dataclasses.replace(queue.specs["add"], schedule=every("5m", args=[1, 2]))
    Schedules(dataclasses.replace(queue, specs={**queue.specs, "add": add})).declare()

    assert client.simulate_get("/schedules/add").json["source"] == "code"
    body = {"actor": "add", "args": [1, 2], "every": 60}
    assert_problem(client.simulate_put("/schedules/add", json=body), 409, "declared in code")
    assert_problem(client.simulate_delete("/schedules/add"), 409, "declared in code")
    assert client.simulate_post("/schedules/add/pause").json["paused"] is True


def test_schedules_answer_503_when_redis_is_away(unreachable_settings, built_queue):
    import falcon.testing

    from services.api.app import create_app

    client = falcon.testing.TestClient(create_app(unreachable_settings, built_queue))
    for result in (client.simulate_get("/schedules"), create(client)):
        assert_problem(result, 503, "unreachable")
        assert result.headers["retry-after"]
