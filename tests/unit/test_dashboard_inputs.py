"""The dashboard's paths, and its answers to input it cannot serve: 4xx, never a 500."""

from __future__ import annotations

import dataclasses
import logging

import falcon.testing
import pytest
from markupsafe import escape

from services.dashboard.app import create_app

from ..support import assert_problem, basic, free_ports


def post_form(admin, path: str, body: str | bytes, cookie: str = "__dd_csrf=" + "a" * 64):
    return admin.simulate_post(
        path,
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )


# Where it answers ---------------------------------------------------------------


def test_the_dashboard_answers_under_admin(admin):
    result = admin.simulate_get("/admin/")

    assert result.status_code == 200
    assert 'href="/admin/queues/default"' in result.text


@pytest.mark.parametrize("path", ["/admin", "/"])
def test_admin_without_slash_and_the_root_redirect_to_admin_with_slash(admin, path):
    result = admin.simulate_get(path, query_string="a=1")

    assert result.status_code == 301
    assert result.headers["Location"] == "/admin/?a=1"


@pytest.mark.parametrize(
    "path",
    ["/admin/", "/admin/queues/default", "/admin/jobs", "/admin/workflows", "/admin/schedules"],
)
def test_every_page_leads_to_the_overview_jobs_workflows_and_schedules(admin, path):
    page = admin.simulate_get(path).text

    for part in ("", "jobs", "workflows", "schedules"):
        assert f'<a href="/admin/{part}" id="{part or "overview"}-link">' in page


def test_paths_outside_admin_are_404(admin):
    assert_problem(admin.simulate_get("/queues/default"), 404, "/admin/")
    assert_problem(admin.simulate_get("/administrator"), 404, "/admin/")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/queues/no-such-queue",
        "/admin/queues/no-such-queue/failed",
        "/admin/queues/no-such-queue.XQ/failed/0a1b2c",
        "/admin/dead-letters/no-such-queue/retry",
    ],
)
def test_an_unknown_queue_is_404(admin, path):
    assert_problem(admin.simulate_get(path), 404, "there is no queue no-such-queue")


@pytest.mark.parametrize("path", ["/admin/queues/default-high", "/admin/queues/default.DQ/delayed"])
def test_a_queue_of_a_priority_lane_and_a_delay_queue_have_their_pages(admin, path):
    result = admin.simulate_get(path)

    assert result.status_code == 200
    assert "There are no jobs in this queue." in result.text


def test_an_unknown_job_leads_back_to_its_tab(admin):
    result = admin.simulate_get("/admin/queues/default/failed/0a1b2c")

    assert result.status_code == 302
    assert result.headers["Location"] == "/admin/queues/default/failed"


# Bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cursor", "words"),
    [
        ("abc", ["cursor", "'abc'"]),
        ("-1", ["cursor"]),
        ("1.5", ["cursor"]),
        (str(2**64), ["out of range"]),
    ],
)
def test_a_bad_cursor_is_400(admin, cursor, words):
    result = admin.simulate_get("/admin/queues/default", query_string=f"cursor={cursor}")

    assert_problem(result, 400, *words)


def test_the_largest_cursor_redis_takes_is_served(admin):
    result = admin.simulate_get("/admin/queues/default", query_string=f"cursor={2**64 - 1}")

    assert result.status_code == 200


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/admin/queues/a\x00b", ["control characters"]),
        ("/admin/queues/a\nb/failed/x", ["control characters"]),
        ("/admin/no\x7fwhere", ["control characters"]),
        ("/admin/queues/caf\xc3\xa9", ["queue name"]),
        ("/admin/queues/-default/failed", ["queue name"]),
        ("/admin/queues/de fault", ["queue name"]),
        ("/admin/queues/default/failed/<script>", ["message id"]),
        ("/admin/dead-letters/a%00b/retry", ["control characters"]),
        ("/admin/dead-letters/a:b/delete", ["queue name"]),
    ],
)
def test_a_bad_queue_name_or_message_id_in_the_path_is_400(admin, path, words):
    assert_problem(admin.simulate_get(path), 400, *words)


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/admin/requeue-message", "", ["'queue'"]),
        ("/admin/requeue-message", "queue=default.XQ", ["'id'"]),
        ("/admin/delete-message", "id=abc", ["'queue'"]),
        ("/admin/delete-message", "queue=default.XQ&id=%ff", ["UTF-8"]),
        ("/admin/delete-message", b"queue=default.XQ&id=\xff", ["UTF-8"]),
        ("/admin/delete-message", "queue=a%0Ab&id=abc", ["form field 'queue'"]),
        ("/admin/requeue-message", "queue=default.XQ&id=a%22b", ["form field 'id'"]),
        ("/admin/dead-letters/default/retry", "", ["'dead_before'"]),
        ("/admin/dead-letters/default/delete", "dead_before=soon", ["'dead_before'"]),
    ],
)
def test_a_bad_form_is_400(admin, path, body, words):
    assert_problem(post_form(admin, path, body), 400, *words)


def test_a_form_too_large_is_413(admin):
    result = post_form(admin, "/admin/delete-message", "queue=default.XQ&id=a&x=" + "y" * 20_000)

    assert_problem(result, 413, "larger")


@pytest.mark.parametrize(
    "path", ["/admin/requeue-message", "/admin/delete-message", "/admin/dead-letters/default/retry"]
)
def test_a_form_without_its_csrf_token_is_403(admin, path):
    body = "queue=default.XQ&id=abc&dead_before=1"

    assert_problem(post_form(admin, path, body), 403, "CSRF token")
    # The token of another session does not do either.
    forged = body + "&__dd_csrf=" + "b" * 64
    assert_problem(post_form(admin, path, forged), 403, "reload the page")


def test_a_malformed_csrf_cookie_is_replaced_not_echoed(admin):
    result = admin.simulate_get(
        "/admin/queues/default", headers={"Cookie": '__dd_csrf="><script>alert(1)</script>'}
    )

    assert result.status_code == 200
    assert "<script>" not in result.text
    assert len(result.cookies["__dd_csrf"].value) == 64


# What a browser is shown ------------------------------------------------------

#: What Chromium asks for when it opens a page.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("path", "status", "detail", "back"),
    [
        ("/admin/jobs/no-such-job", 404, "there is no job no-such-job", "/admin/jobs"),
        ("/admin/schedules/no-such", 404, "there is no schedule no-such", "/admin/schedules"),
        ("/admin/workflows/no-such", 404, "there is no workflow no-such", "/admin/workflows"),
        ("/admin/no/such/page", 404, "there is no page /admin/no/such/page", None),
        ("/admin/queues/no-such/failed", 404, "there is no queue no-such", None),
        ("/admin/requeue-message", 405, "Expected a POST request.", None),
        ("/admin/jobs/%3Cb%3Ex", 400, "job id '<b>x' is not valid", "/admin/jobs"),
        ("/elsewhere", 404, "the dashboard is at /admin/", None),
    ],
)
def test_a_browser_is_shown_a_refusal_as_a_page_and_a_client_as_a_problem_document(
    admin, path, status, detail, back
):
    page = admin.simulate_get(path, headers=BROWSER)

    assert page.status_code == status
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    title = assert_problem(admin.simulate_get(path), status)["title"]
    assert f"<title>{title} :: jobqueue</title>" in page.text
    # The console's look and navigation, the detail as escaped text, a way back.
    assert '<nav class="nav">' in page.text and 'id="jobs-link"' in page.text
    assert f'id="problem-detail">{escape(detail)}' in page.text
    assert "<b>" not in page.text
    assert (f'href="{back}"' in page.text) is (back is not None)
    # A client that asks for JSON, or for anything, gets the problem document.
    for accept in ("application/json", "application/problem+json", "*/*"):
        assert_problem(admin.simulate_get(path, headers={"Accept": accept}), status, detail)
    assert_problem(
        admin.simulate_get(path, headers={"Accept": "application/json, text/html;q=0.5"}), status
    )


def test_a_page_that_fails_is_a_500_that_says_so_and_logs_why(admin, queue, monkeypatch, caplog):
    def broken(job_id):
        raise RuntimeError("a bug")

    monkeypatch.setattr(queue.store, "get", broken)

    with caplog.at_level(logging.ERROR, "services.dashboard.guard"):
        assert_problem(admin.simulate_get("/admin/jobs/abc"), 500, "its log says why")
        page = admin.simulate_get("/admin/jobs/abc", headers=BROWSER)
    assert page.status_code == 500
    assert "its log says why" in page.text and "a bug" not in page.text
    assert "RuntimeError: a bug" in caplog.text


def test_redis_down_is_503_with_retry_after(settings):
    (closed_port,) = free_ports(1)
    unreachable = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{closed_port}/0")
    admin = falcon.testing.TestClient(
        create_app(unreachable), headers=basic("admin", "test-password")
    )

    result = admin.simulate_get("/admin/")

    assert_problem(result, 503, "Redis")
    assert result.headers["Retry-After"] == "5"
    page = admin.simulate_get("/admin/jobs/abc", headers=BROWSER)
    assert (page.status_code, page.headers["Retry-After"]) == (503, "5")
    assert 'id="problem-retry">Try again in 5 seconds.' in page.text
    # The health check does not depend on Redis: the process itself is alive.
    assert admin.simulate_get("/healthz").status_code == 200
