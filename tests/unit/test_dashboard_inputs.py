"""The dashboard's paths, and its answers to input it cannot serve: 4xx, never a 500."""

from __future__ import annotations

import dataclasses

import falcon.testing
import pytest

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


def test_paths_outside_admin_are_404(admin):
    assert_problem(admin.simulate_get("/queues/default"), 404, "/admin/")
    assert_problem(admin.simulate_get("/administrator"), 404, "/admin/")


def test_an_unknown_queue_is_an_empty_page(admin):
    result = admin.simulate_get("/admin/queues/no-such-queue/failed")

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

    assert post_form(admin, path, body).status_code == 403
    # The token of another session does not do either.
    forged = body + "&__dd_csrf=" + "b" * 64
    assert post_form(admin, path, forged).status_code == 403


def test_a_malformed_csrf_cookie_is_replaced_not_echoed(admin):
    result = admin.simulate_get(
        "/admin/queues/default", headers={"Cookie": '__dd_csrf="><script>alert(1)</script>'}
    )

    assert result.status_code == 200
    assert "<script>" not in result.text
    assert len(result.cookies["__dd_csrf"].value) == 64


def test_redis_down_is_503_with_retry_after(settings):
    (closed_port,) = free_ports(1)
    unreachable = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{closed_port}/0")
    admin = falcon.testing.TestClient(
        create_app(unreachable), headers=basic("admin", "test-password")
    )

    result = admin.simulate_get("/admin/")

    assert_problem(result, 503, "Redis")
    assert result.headers["Retry-After"] == "5"
    # The health check does not depend on Redis: the process itself is alive.
    assert admin.simulate_get("/healthz").status_code == 200
