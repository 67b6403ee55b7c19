"""The console in a real browser: it opens on live charts of the work, and finds any job.

Debian's Chromium, driven by Playwright, through the local stack's load balancer,
as in ``test_admin_jobs.py`` (whose fixtures keep screenshots of a failure).
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from actors.states import State

from .test_admin_jobs import page, screenshots_on_failure, shots  # noqa: F401 (fixtures)
from .test_template_page import JOB_WAIT_MS, browser  # noqa: F401 (a fixture)

#: Whether a chart's line for ``series`` rises above its baseline, zero (the SVG's y
#: grows downwards: zero is at 146).
RISES = r"""series => {
    const path = document.querySelector(`#overview path[data-series="${series}"]`);
    if (!path) return false;
    const ys = [...path.getAttribute("d").matchAll(/[ML]([\d.]+),([\d.]+)/g)]
        .map(point => parseFloat(point[2]));
    return ys.some(y => y < 145);
}"""

#: Whether the number an element shows is at least the one given.
AT_LEAST = "([id, least]) => parseInt(document.getElementById(id).textContent) >= least"


@screenshots_on_failure
def test_the_overview_charts_jobs_as_they_end_without_a_reload(stack, page, shots):  # noqa: F811
    page.goto(f"{stack.url}/admin/")
    overview = page.locator("#overview")
    expect(overview).to_have_attribute("data-state", "live", timeout=JOB_WAIT_MS)
    for link, label in [("overview", "Overview"), ("jobs", "Jobs"), ("schedules", "Schedules")]:
        expect(page.locator(f"nav #{link}-link")).to_have_text(label)
    succeeded = int(page.locator("#hour-succeeded").inner_text())
    failed = int(page.locator("#hour-failed").inner_text())

    jobs = [stack.submit("add", args=[n, 1]) for n in range(20)]
    jobs.append(stack.submit("fail", kwargs={"permanent": True}))
    for job_id in jobs:
        stack.ended(job_id)

    # Counted on the page as they end, without a reload (other tests' jobs may end too).
    for name, at_least in (("succeeded", succeeded + 20), ("failed", failed + 1)):
        page.wait_for_function(AT_LEAST, arg=[f"hour-{name}", at_least], timeout=JOB_WAIT_MS)
    for series in ("succeeded", "failed", "p99"):
        page.wait_for_function(RISES, arg=series, timeout=JOB_WAIT_MS)
    # The median is drawn too, if at the foot of a chart scaled to the slowest.
    expect(page.locator('#overview path[data-series="p50"]')).to_have_attribute(
        "d", re.compile(r"^M")
    )
    expect(page.locator("#now-workers")).to_have_text(str(stack.settings.workers))
    expect(page.locator('[data-legend="p50"]')).to_have_text(re.compile(r"^\d+ ms$|^[\d.]+ s$"))
    shots.take("overview")


@screenshots_on_failure
def test_a_job_found_by_its_id_shows_its_worker_duration_and_traceback(stack, page, shots):  # noqa: F811
    job_id = stack.submit("fail", kwargs={"message": "out of paper", "permanent": True})
    record = stack.ended(job_id)

    page.goto(f"{stack.url}/admin/")
    page.fill("#overview .job-search input", job_id)
    page.click("#overview .job-search button")
    shots.take("job")

    assert page.url == f"{stack.url}/admin/jobs/{job_id}"
    # One name per worker: the stack's (its log lines' prefix) and its pid, everywhere.
    assert re.fullmatch(r"worker\.\d:\d+", record["worker_name"]), record["worker_name"]
    expect(page.locator("#job-worker")).to_have_text(record["worker_name"])
    expect(page.locator("#job-duration")).to_have_text(re.compile(r"^\d+ ms$|^[\d.]+ s$"))
    expect(page.locator("#job-traceback")).to_contain_text("PermanentError: out of paper")
    # The options that applied, as the API's record shows them: none null.
    assert json.loads(page.locator("#job-options").text_content()) == record["options"]
    state = page.locator("#job-state")
    expect(state).to_have_attribute("data-state", State.FAILED)
    # Failed is the dashboard's red; the states are told apart by colour.
    expect(state).to_have_css("color", "rgb(252, 114, 96)")

    page.click("nav #jobs-link")
    expect(page).to_have_url(f"{stack.url}/admin/jobs")
    row = page.locator("tr.job-row", has=page.locator(f'a[href="/admin/jobs/{job_id}"]'))
    expect(row.locator(".job-worker")).to_have_text(record["worker_name"])
    expect(row.locator(".job-state")).to_have_css("color", "rgb(252, 114, 96)")
    page.click("nav #overview-link")
    workers = page.locator("td.table__subject--mono").all_inner_texts()
    assert record["worker_name"] in [worker.strip() for worker in workers]
    page.locator("a", has_text="default").first.click()
    expect(page.locator("#queue-name")).to_have_text("Queue default")


@screenshots_on_failure
def test_a_page_that_does_not_exist_is_a_404_page_in_the_consoles_look(stack, page, shots):  # noqa: F811
    missing = [
        ("/admin/jobs/no-such-job", "there is no job no-such-job", "All jobs"),
        ("/admin/schedules/no-such", "there is no schedule no-such", "All schedules"),
        ("/admin/workflows/no-such", "there is no workflow no-such", "All workflows"),
        ("/admin/queues/no-such", "there is no queue no-such", None),
        ("/admin/no/such/page", "there is no page /admin/no/such/page", None),
    ]
    for path, detail, back in missing:
        answer = page.goto(f"{stack.url}{path}")
        assert (answer.status, answer.headers["content-type"]) == (404, "text/html; charset=utf-8")
        expect(page).to_have_title("Not Found :: jobqueue")
        expect(page.locator("#problem-detail")).to_contain_text(detail)
        # The console's navigation bar, in dramatiq-dashboard's look.
        expect(page.locator("#jobs-link")).to_be_visible()
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(31, 37, 48)"
        shots.take(path.strip("/").replace("/", "-"))
        if back:
            with page.expect_navigation():
                page.get_by_role("link", name=back).click()
            assert page.url == f"{stack.url}{path.rsplit('/', 1)[0]}"

        # A client that asks for JSON gets the problem document, with the same status.
        asked = stack.get(path, auth=stack.admin, headers={"Accept": "application/json"})
        assert (asked.status_code, asked.headers["content-type"]) == (
            404,
            "application/problem+json",
        )
        assert detail in asked.json()["detail"]
