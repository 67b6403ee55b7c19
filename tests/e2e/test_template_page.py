"""GET /template in a real browser: the page follows its job live over Server-Sent Events.

Debian's Chromium (``apt-get install chromium``; ``.ci/run`` installs it), driven by
Playwright, loads the page through the load balancer of the local stack.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import Page, Request, expect, sync_playwright

from .conftest import RunningStack

CHROMIUM = Path("/usr/bin/chromium")
# Keep Chromium off the network, which is closed here. Playwright gives every launch a
# fresh, empty profile of its own (it refuses --user-data-dir in launch arguments).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Upper bound on waiting for a job to end: generous for a loaded machine, never a timing.
JOB_WAIT_MS = 30_000
# Every value of data-state that #job-state takes, recorded as it changes.
RECORD_STATES = """
window.seenStates = [];
new MutationObserver((records) => {
  for (const record of records) window.seenStates.push(record.target.dataset.state);
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
"""
LIFECYCLE = ["queued", "running", "succeeded"]


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module; each test gets a fresh context."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the browser tests: {message}", pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(RECORD_STATES)
        yield page
    finally:
        context.close()


def open_template(stack: RunningStack, page: Page, **fields: str) -> tuple[str, str]:
    """Load /template with ``fields``; return the job's id and the HTML as served."""
    response = page.goto(f"{stack.url}/template?{urlencode(fields)}")
    assert response is not None
    assert response.status == 202
    return page.locator("#job-id").inner_text(), response.text()


def job_requests(requests: list[Request], job_id: str) -> list[tuple[str, str]]:
    """The page's requests for anything under /jobs/{job_id}, as (path, resource type)."""
    prefix = f"/jobs/{job_id}"
    paths = [(urlsplit(request.url).path, request.resource_type) for request in requests]
    return [(path, kind) for path, kind in paths if path.startswith(prefix)]


def test_page_follows_its_job_over_server_sent_events_without_polling(stack, page):
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    name = f"Ada {uuid.uuid4().hex[:8]}"

    job_id, served = open_template(stack, page, title="Greeting", name=name)

    assert 'data-state="queued"' in served
    state = page.locator("#job-state")
    expect(state).to_have_attribute("data-state", "succeeded", timeout=JOB_WAIT_MS)
    expect(state).to_have_text("succeeded")
    # The page itself moved the state forward, through the job's lifecycle in order.
    seen = page.evaluate("window.seenStates")
    assert seen[-1] == "succeeded", seen
    assert set(seen) <= set(LIFECYCLE), seen
    assert seen == sorted(seen, key=LIFECYCLE.index), seen
    expect(page.locator("#job-progress")).to_have_js_property("value", 1)
    frame = page.locator("#job-result")
    expect(frame).to_be_visible()
    assert frame.get_attribute("sandbox") == "", "the document must run in a full sandbox"
    document = page.frame_locator("#job-result")
    expect(document.locator("h1")).to_have_text("Greeting")
    expect(document.get_by_text(f"Dear {name},", exact=True)).to_be_visible()
    # One event stream, closed by the page once the job ended, and nothing else about
    # the job: the page learned every state from the stream, and never polled.
    assert page.evaluate("events.readyState") == page.evaluate("EventSource.CLOSED")
    assert job_requests(requests, job_id) == [(f"/jobs/{job_id}/events", "eventsource")]


def test_user_input_is_shown_as_text_and_never_runs(stack, page):
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    fields = {
        "title": "</title><script>alert('title')</script>",
        "name": "<img src=x onerror=alert('name')>",
        "message": "\"'><svg onload=alert('message')>",
    }

    open_template(stack, page, **fields)

    expect(page.locator("#job-state")).to_have_attribute(
        "data-state", "succeeded", timeout=JOB_WAIT_MS
    )
    document = page.frame_locator("#job-result")
    for value in fields.values():
        expect(page.get_by_text(value, exact=True)).to_have_count(1)
    expect(document.locator("h1")).to_have_text(fields["title"])
    expect(document.get_by_text(fields["message"], exact=True)).to_have_count(1)
    expect(document.get_by_text(f"Dear {fields['name']},", exact=True)).to_have_count(1)
    # Neither the page nor the document grew an element out of the input.
    expect(page.locator("img, svg")).to_have_count(0)
    expect(page.locator("script")).to_have_count(1)
    expect(document.locator("img, svg, script")).to_have_count(0)
    assert dialogs == []
    assert not [r.url for r in requests if urlsplit(r.url).path.endswith("/x")]
