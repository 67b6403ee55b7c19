"""The admin's schedule pages, through the dashboard's WSGI app, against a real Redis."""

from __future__ import annotations

import html
import json
import re

from actors.schedules.definition import ScheduleDefinition
from actors.schedules.operations import Schedules

from .test_dashboard_jobs import post


def nightly(queue, name: str = "nightly", **changes) -> Schedules:
    schedules = Schedules(queue)
    definition = {"actor": "add", "args": [1, 2], "cron": "0 3 * * *", "tz": "Europe/Berlin"}
    schedules.create(name, ScheduleDefinition.model_validate({**definition, **changes}))
    return schedules


def test_the_list_shows_every_schedule_with_its_next_run(admin, queue):
    nightly(queue)
    nightly(queue, "often", every="30s", cron=None)

    page = admin.simulate_get("/admin/schedules")

    assert page.status_code == 200
    assert re.findall(r'<a href="/admin/schedules/([^"]+)">', page.text) == ["nightly", "often"]
    assert "cron 0 3 * * * (Europe/Berlin)" in page.text
    assert "every 30s" in page.text
    assert 'id="schedules-link"' in admin.simulate_get("/admin/").text


def test_a_schedule_page_pauses_resumes_and_runs_it_now(admin, queue):
    schedules = nightly(queue)
    page = admin.simulate_get("/admin/schedules/nightly")
    assert page.text.count('class="schedule-next-run"') == 5

    paused = post(admin, page, "/admin/schedules/nightly/pause")
    assert (paused.status_code, paused.headers["Location"]) == (302, "/admin/schedules/nightly")
    assert schedules.get("nightly").paused
    page = admin.simulate_get("/admin/schedules/nightly")
    assert 'id="resume"' in page.text and 'class="schedule-next-run"' not in page.text

    post(admin, page, "/admin/schedules/nightly/resume")
    assert not schedules.get("nightly").paused
    ran = post(admin, page, "/admin/schedules/nightly/run")

    job_id = schedules.get("nightly").last_job
    assert ran.headers["Location"] == f"/admin/jobs/{job_id}"
    assert queue.store.get(job_id).args == [1, 2]
    history = admin.simulate_get("/admin/schedules/nightly").text
    kinds = re.findall(r'class="history-row" data-kind="(\w+)"', history)
    assert kinds == ["run_now", "resumed", "paused", "created"]
    assert f'href="/admin/jobs/{job_id}"' in history


def test_nothing_changes_without_the_csrf_token(admin, queue):
    schedules = nightly(queue)
    page = admin.simulate_get("/admin/schedules/nightly")

    assert post(admin, page, "/admin/schedules/nightly/pause", with_token=False).status_code == 403
    assert not schedules.get("nightly").paused


def test_an_unknown_or_unreadable_schedule_is_a_problem_document(admin):
    missing = admin.simulate_get("/admin/schedules/none")
    assert (missing.status_code, missing.headers["content-type"]) == (
        404,
        "application/problem+json",
    )
    assert admin.simulate_get("/admin/schedules/%3Cscript%3E").status_code == 400


def test_a_schedule_page_names_it_once_as_it_is_written(admin, queue):
    nightly(queue, "Nightly.Report")
    page = admin.simulate_get("/admin/schedules/Nightly.Report").text

    # The panel titles are set in capitals: the name is not repeated there.
    assert re.findall(r'class="panel__title">([^<]*)<', page) == ["Schedule", "History"]
    assert 'id="schedule-name">Nightly.Report<' in page


def test_what_a_user_gave_is_shown_as_text(admin, queue):
    nightly(queue, actor="render_document", args=[], kwargs={"name": "<b>bold</b>"})
    page = admin.simulate_get("/admin/schedules/nightly")
    assert "<b>bold</b>" not in page.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text


def test_a_schedule_shows_its_start_end_and_run_limit_and_reads_finished_at_the_end(admin, queue):
    window = {"start_at": "2030-01-01T00:00:00Z", "end_at": "2030-01-02T12:00:00Z"}
    schedules = nightly(queue, **window, max_runs=3)
    page = admin.simulate_get("/admin/schedules/nightly").text
    assert "<small>2030-01-01T00:00:00.000+00:00</small>" in cell(page, "schedule-start")
    assert "<small>2030-01-02T12:00:00.000+00:00</small>" in cell(page, "schedule-end")
    assert cell(page, "schedule-max-runs") == "3 ticks, 3 left"
    # 03:00 in Berlin on the 1st and the 2nd: none after the end.
    assert page.count('class="schedule-next-run"') == 2

    schedules.replace(
        "nightly",
        ScheduleDefinition.model_validate(
            {"actor": "add", "cron": "0 3 * * *", "args": [1, 2], "end_at": "2020-01-01T00:00:00Z"}
        ),
    )
    page = admin.simulate_get("/admin/schedules/nightly").text
    assert 'id="schedule-state">finished<' in page
    assert 'id="pause"' not in page and 'id="resume"' not in page
    listed = admin.simulate_get("/admin/schedules").text
    assert 'data-name="nightly" data-state="finished"' in listed


def test_a_schedule_shows_the_options_its_jobs_run_with_and_those_it_declares(admin, queue):
    nightly(queue, actor="fail", args=[], options={"time_limit": 2.5})
    page = admin.simulate_get("/admin/schedules/nightly").text

    # fail declares max_retries=2; the schedule declares the time limit.
    options = re.search(r'id="schedule-options">(.*?)</pre>', page, re.S).group(1)
    assert json.loads(html.unescape(options)) == {
        "delay": 0,
        "max_retries": 2,
        "time_limit": 2.5,
        "priority": "normal",
    }
    declared = re.search(r'id="schedule-declared-options">(.*?)</pre>', page, re.S).group(1)
    assert json.loads(html.unescape(declared)) == {
        "delay": 0,
        "time_limit": 2.5,
        "priority": "normal",
    }


def cell(page: str, cell_id: str) -> str:
    """What the page's cell ``cell_id`` holds."""
    return re.search(rf'id="{cell_id}">(.*?)</td>', page, re.S).group(1)
