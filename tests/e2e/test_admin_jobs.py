"""The admin's job pages in a real browser, through the load balancer of the local stack.

Debian's Chromium, driven by Playwright, as in ``test_template_page.py``. Each page a
test visits is saved as a screenshot; when a test fails, its screenshots (and one of the
page as it was at the failure) are kept under ``.run/screenshots/<test>/``, out of
pytest's temporary directories that other runs rotate away, and named in the error.
"""

from __future__ import annotations

import functools
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from actors.states import State

from ..support import PROJECT_DIR
from .conftest import RunningStack
from .test_template_page import JOB_WAIT_MS, browser  # noqa: F401 (a fixture)


class Shots:
    """Screenshots of the pages a test visits, kept under the test's tmp_path."""

    def __init__(self, page: Page, directory: Path, test_name: str):
        self.page = page
        self.directory = directory
        self.test_name = test_name
        self.paths: list[Path] = []

    def take(self, name: str) -> Path:
        path = self.directory / f"{len(self.paths):02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        self.paths.append(path)
        return path

    def keep(self) -> list[Path]:
        """Copy the screenshots where they outlive pytest's temporary directories."""
        kept = PROJECT_DIR / ".run" / "screenshots" / re.sub(r"[^\w.-]", "_", self.test_name)
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir(parents=True)
        return [Path(shutil.copy(path, kept)) for path in self.paths]


@pytest.fixture
def page(browser, stack: RunningStack):  # noqa: F811 (browser is the imported fixture)
    """A page of a fresh browser context that knows the admin's credentials."""
    user, password = stack.admin
    context = browser.new_context(http_credentials={"username": user, "password": password})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def shots(page, tmp_path, request) -> Shots:
    return Shots(page, tmp_path, request.node.name)


def screenshots_on_failure(test):
    """On failure, name the screenshots of every page the test saw, and of the last."""

    @functools.wraps(test)
    def run(*args, shots: Shots, **kwargs):
        try:
            test(*args, shots=shots, **kwargs)
        except Exception as error:
            shots.take("failure")
            kept = shots.keep()
            error.add_note("screenshots:\n" + "\n".join(str(path) for path in kept))
            raise

    return run


def job_row(page: Page, job_id: str):
    return page.locator("tr.job-row", has=page.locator(f'a[href="/admin/jobs/{job_id}"]'))


@screenshots_on_failure
def test_the_list_filters_by_state_and_actor(stack, page, shots):
    cancelled = stack.submit("count_slowly", kwargs={"to": 1}, options={"delay": 600})
    assert stack.delete(f"/jobs/{cancelled}").status_code == 200
    waiting = stack.submit("add", args=[1, 2], options={"delay": 600})

    page.goto(f"{stack.url}/admin/jobs")
    shots.take("jobs")
    expect(job_row(page, waiting)).to_have_count(1)
    expect(job_row(page, cancelled)).to_have_count(1)
    page.select_option("#filter-state", State.CANCELLED)
    page.select_option("#filter-actor", "count_slowly")
    page.click("#jobs-filter button[type=submit]")
    shots.take("filtered")

    assert urlsplit(page.url).query == f"state={State.CANCELLED}&actor=count_slowly"
    expect(job_row(page, cancelled)).to_have_count(1)
    expect(job_row(page, waiting)).to_have_count(0)
    rows = page.locator("tr.job-row")
    assert rows.count() >= 1
    assert set(rows.evaluate_all("rows => rows.map(row => row.dataset.state)")) == {State.CANCELLED}
    assert set(page.locator("td.job-actor").all_inner_texts()) == {"count_slowly"}
    expect(page.locator("#filter-state")).to_have_value(State.CANCELLED)
    stack.delete(f"/jobs/{waiting}")


@pytest.fixture(params=["load balancer", "dashboard port"])
def origin(request, stack: RunningStack) -> str:
    """Where the admin opens the dashboard: through Traefik, or on its own port."""
    if request.param == "load balancer":
        return stack.url
    return stack.dashboard_url


@screenshots_on_failure
def test_a_job_page_opened_from_the_list_follows_the_job_until_it_finishes(
    stack, origin, page, shots
):
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    # Long enough to be opened while it runs, on a loaded machine too.
    job_id = stack.submit("count_slowly", kwargs={"to": 16, "interval": 0.5})

    page.goto(f"{origin}/admin/jobs?actor=count_slowly")
    shots.take("jobs")
    job_row(page, job_id).locator("a").click()
    expect(page.locator("#job-id")).to_have_text(job_id)
    shots.take("job")

    # Progress arrives while the job runs, without reloading the page.
    expect(page.locator("#job-live")).to_be_visible(timeout=JOB_WAIT_MS)
    expect(page.locator("#job-note")).to_contain_text("counted", timeout=JOB_WAIT_MS)
    shots.take("running")
    # Its times too, in ISO 8601 as the record has them: each report moves updated_at.
    page.evaluate("window.followed = true")
    updated = page.locator('td[data-time="updated_at"] small')
    before = updated.text_content()
    expect(updated).not_to_have_text(before, timeout=JOB_WAIT_MS)
    after = updated.text_content()
    assert page.evaluate("window.followed === true"), "the page reloaded instead"
    assert datetime.fromisoformat(before) < datetime.fromisoformat(after)
    assert datetime.fromisoformat(after).utcoffset() == timedelta(0)
    state = page.locator("#job-state")
    expect(state).to_have_attribute("data-state", State.SUCCEEDED, timeout=JOB_WAIT_MS)
    shots.take("finished")
    expect(page.locator("#job-result")).to_have_text("16")
    expect(page.locator("#job-progress")).to_have_js_property("value", 1)
    expect(page.locator("#cancel")).to_have_count(0)
    streams = [
        urlsplit(request.url).path for request in requests if request.resource_type == "eventsource"
    ]
    assert f"/admin/jobs/{job_id}/events" in streams


@screenshots_on_failure
def test_a_dead_job_is_retried_from_its_page_and_linked_to_its_dead_letter(stack, page, shots):
    job_id = stack.submit("fail", kwargs={"message": "out of <paper>"})
    assert stack.ended(job_id)["state"] == State.DEAD

    page.goto(f"{stack.url}/admin/jobs/{job_id}")
    shots.take("dead")
    expect(page.locator("#job-state")).to_have_text(State.DEAD)
    expect(page.locator("#job-error")).to_have_text("RuntimeError: out of <paper>")
    # Its message waits among the queue's dead letters, on dramatiq-dashboard's page.
    page.click("#message-page")
    shots.take("dead-letter")
    assert re.fullmatch(r"/admin/queues/default/failed/[\w-]+", urlsplit(page.url).path)
    page.click("#job-record-link")
    expect(page.locator("#job-id")).to_have_text(job_id)

    with page.expect_navigation():
        page.click("#retry")
    shots.take("retried")

    # It runs again under the same id, and dies again; the page shows the new end,
    # followed live or rendered, whichever came first.
    assert urlsplit(page.url).path == f"/admin/jobs/{job_id}"
    assert stack.ended(job_id)["state"] == State.DEAD
    expect(page.locator("#job-state")).to_have_attribute(
        "data-state", State.DEAD, timeout=JOB_WAIT_MS
    )
    expect(page.locator("#retry")).to_be_visible()
    shots.take("dead-again")
    # Three attempts (the actor's max_retries=2), then three more.
    assert stack.ended(job_id)["attempts"] == 6


@screenshots_on_failure
def test_a_running_job_is_cancelled_after_confirmation(stack, page, shots):
    job_id = stack.submit("count_slowly", kwargs={"to": 120, "interval": 0.5})
    page.goto(f"{stack.url}/admin/jobs/{job_id}")
    state = page.locator("#job-state")
    expect(state).to_have_attribute("data-state", State.RUNNING, timeout=JOB_WAIT_MS)
    shots.take("running")

    # Dismissed, the confirmation cancels nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#cancel")
    assert stack.get(f"/jobs/{job_id}").json()["state"] == State.RUNNING
    expect(page.locator("#cancel")).to_be_visible()

    confirmations: list[str] = []
    page.once("dialog", lambda dialog: (confirmations.append(dialog.message), dialog.accept()))
    page.click("#cancel")
    shots.take("cancelled")

    expect(state).to_have_attribute("data-state", State.CANCELLED, timeout=JOB_WAIT_MS)
    assert confirmations and job_id in confirmations[0]
    assert stack.ended(job_id)["state"] == State.CANCELLED
    expect(page.locator("#cancel")).to_have_count(0)
