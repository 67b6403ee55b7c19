"""``GET /actors`` tells a client what it may submit, and what each job takes."""

from __future__ import annotations

import dataclasses

from falcon import testing

import actors
from actors.registry import JobSpec
from services.api.app import create_app


def test_the_catalog_lists_public_jobs_with_their_parameters(unreachable_settings, built_queue):
    def internal_cleanup(days: int) -> None:
        """Housekeeping no client may start."""

    private = JobSpec(internal_cleanup, "internal_cleanup", "default", public=False)
    queue = dataclasses.replace(
        built_queue, specs={**built_queue.specs, "internal_cleanup": private}
    )
    app = create_app(unreachable_settings, queue)
    actors = testing.TestClient(app).simulate_get("/actors").json["actors"]
    by_name = {actor["name"]: actor for actor in actors}

    assert set(by_name) == {"add", "count_slowly", "fail", "render_document", "total"}
    assert by_name["add"]["parameters"] == [
        {
            "name": "a",
            "type": "number",
            "required": True,
            "default": None,
            "json_schema": {"type": "number"},
        },
        {
            "name": "b",
            "type": "number",
            "required": True,
            "default": None,
            "json_schema": {"type": "number"},
        },
    ]
    # Bounds are published as the submission checks them.
    assert by_name["count_slowly"]["parameters"][0] == {
        "name": "to",
        "type": "integer",
        "required": False,
        "default": 10,
        "json_schema": {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 10},
    }
    assert by_name["count_slowly"]["parameters"][1]["json_schema"] == {
        "type": "number",
        "minimum": 0.01,
        "maximum": 60,
        "default": 0.5,
    }
    assert by_name["render_document"]["parameters"][1]["json_schema"]["maxLength"] == 500
    assert by_name["fail"]["max_retries"] == 2
    assert by_name["render_document"]["description"].startswith("Render an HTML document")
    assert by_name["add"]["priorities"] == ["high", "normal", "low"]


def test_the_catalog_shows_each_jobs_limits(unreachable_settings):
    queue = actors.connect(
        dataclasses.replace(
            unreachable_settings, job_modules=("actors.jobs", "tests.limited_jobs")
        ).queue_config()
    )
    app = create_app(unreachable_settings, queue)
    listed = testing.TestClient(app).simulate_get("/actors").json["actors"]
    by_name = {actor["name"]: actor for actor in listed}

    assert (by_name["hog"]["concurrency"], by_name["hog"]["rate"]) == (2, None)
    assert (by_name["trickle"]["concurrency"], by_name["trickle"]["rate"]) == (None, "5/s")
    assert (by_name["add"]["concurrency"], by_name["add"]["rate"]) == (None, None)
