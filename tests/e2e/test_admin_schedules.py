"""The admin's schedule pages in a real browser, through the load balancer of the local stack."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.support import wait_for

from .test_admin_jobs import page, screenshots_on_failure, shots  # noqa: F401 (fixtures)
from .test_template_page import JOB_WAIT_MS, browser  # noqa: F401 (a fixture)


@screenshots_on_failure
def test_a_schedule_is_found_paused_resumed_and_run_from_its_page(stack, page, shots):  # noqa: F811
    created = stack.post(
        "/schedules",
        json={
            "name": "browsed",
            "actor": "add",
            "args": [20, 22],
            "cron": "0 3 * * *",
            "tz": "Europe/Berlin",
        },
    )
    assert created.status_code == 201, created.text
    try:
        page.goto(f"{stack.url}/admin/")
        page.click("#schedules-link")
        shots.take("schedules")
        row = page.locator("tr.schedule-row[data-name=browsed]")
        expect(row.locator(".schedule-when")).to_have_text("cron 0 3 * * * (Europe/Berlin)")
        row.locator("a").first.click()
        expect(page.locator("#schedule-name")).to_have_text("browsed")
        expect(page.locator(".schedule-next-run")).to_have_count(5)
        # The options its jobs run with, as GET /schedules/{name} shows them; it declares none.
        shown = page.locator("#schedule-options").inner_text()
        assert json.loads(shown) == stack.get("/schedules/browsed").json()["options"]
        assert json.loads(shown)["max_retries"] == stack.settings.default_max_retries
        shots.take("schedule")

        with page.expect_navigation():
            page.click("#pause")
        expect(page.locator("#schedule-state")).to_have_text("paused")
        expect(page.locator(".schedule-next-run")).to_have_count(0)
        assert stack.get("/schedules/browsed").json()["paused"] is True
        shots.take("paused")
        with page.expect_navigation():
            page.click("#resume")
        expect(page.locator("#schedule-state")).to_have_text("running")

        # Run now: an ordinary job, whose page follows it to its result.
        with page.expect_navigation():
            page.click("#run-now")
        shots.take("job")
        job_id = urlsplit(page.url).path.rsplit("/", 1)[1]
        expect(page.locator("#job-result")).to_have_text("42", timeout=JOB_WAIT_MS)
        page.goto(f"{stack.url}/admin/schedules/browsed")
        expect(page.locator("#schedule-last-job")).to_have_text(job_id)
        kinds = page.locator("tr.history-row").evaluate_all("rows => rows.map(r => r.dataset.kind)")
        assert kinds == ["run_now", "resumed", "paused", "created"]
        shots.take("history")
    finally:
        stack.delete("/schedules/browsed")


@screenshots_on_failure
def test_a_schedule_shows_its_end_and_run_limit_and_reads_finished_once_run(stack, page, shots):  # noqa: F811
    created = stack.post(
        "/schedules",
        json={
            "name": "twice",
            "actor": "add",
            "args": [1, 1],
            "every": "1s",
            "end_at": "2099-01-01T00:00:00+01:00",
            "max_runs": 2,
        },
    )
    assert created.status_code == 201, created.text
    try:
        page.goto(f"{stack.url}/admin/schedules/twice")
        expect(page.locator("#schedule-end small")).to_have_text("2098-12-31T23:00:00.000+00:00")
        expect(page.locator("#schedule-max-runs")).to_contain_text("2 ticks")

        # The workers fire it twice, and no more.
        wait_for(lambda: stack.get("/schedules/twice").json()["state"] == "finished", timeout=30)
        page.reload()
        expect(page.locator("#schedule-state")).to_have_text("finished")
        expect(page.locator("#schedule-max-runs")).to_have_text("2 ticks, 0 left")
        expect(page.locator(".schedule-next-run")).to_have_count(0)
        expect(page.locator("#pause")).to_have_count(0)
        kinds = page.locator("tr.history-row").evaluate_all("rows => rows.map(r => r.dataset.kind)")
        assert kinds == ["finished", "fired", "fired", "created"]
        shots.take("finished")
        page.goto(f"{stack.url}/admin/schedules")
        row = page.locator("tr.schedule-row[data-name=twice]")
        expect(row.locator(".schedule-state")).to_have_text("finished")
        assert stack.get("/schedules/twice").json()["fired"] == 2
    finally:
        stack.delete("/schedules/twice")
