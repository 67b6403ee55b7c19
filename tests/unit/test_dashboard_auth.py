"""The dashboard's own basic auth: its port is never open without credentials."""

from __future__ import annotations

import base64
import dataclasses

import falcon.testing
import pytest

from services.dashboard.app import create_app

from ..support import basic


@pytest.fixture
def dashboard(settings, queue):
    return create_app(settings, queue=queue)


def get(app, path: str = "/admin/", headers: dict[str, str] | None = None):
    return falcon.testing.simulate_get(app, path, headers=headers)


def assert_refused(result):
    assert result.status_code == 401
    assert result.headers["WWW-Authenticate"].startswith("Basic ")
    assert "queue" not in result.text.lower()


def test_no_credentials_is_401(dashboard):
    assert_refused(get(dashboard))


@pytest.mark.parametrize(
    "headers",
    [
        basic("admin", "wrong"),
        basic("root", "test-password"),
        basic("admin", "test-password" + "x"),
        basic("admin", ""),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer test-password"},
        {"Authorization": base64.b64encode(b"admin:test-password").decode()},
    ],
    ids=[
        "wrong-password",
        "wrong-user",
        "longer-password",
        "empty-password",
        "malformed",
        "other-scheme",
        "no-scheme",
    ],
)
def test_wrong_credentials_are_401(dashboard, headers):
    assert_refused(get(dashboard, headers=headers))


def test_every_page_is_protected(dashboard):
    for path in [
        "/",
        "/admin",
        "/admin/queues/default/failed",
        "/admin/dead-letters/default/retry",
    ]:
        assert_refused(get(dashboard, path))
    for path in ["/admin/requeue-message", "/admin/dead-letters/default/delete"]:
        result = falcon.testing.simulate_post(dashboard, path, body="id=x&queue=y")
        assert result.status_code == 401


def test_right_credentials_show_the_dashboard_with_the_default_queue(dashboard, settings):
    result = get(dashboard, headers=basic(settings.admin_user, settings.admin_password))

    assert result.status_code == 200
    # Links carry the prefix: the same paths work on its port and behind Traefik.
    assert 'href="/admin/queues/default"' in result.text


@pytest.mark.parametrize("scheme", ["basic", "BASIC", "bAsIc"])
def test_the_scheme_is_case_insensitive(dashboard, settings, scheme):
    token = basic(settings.admin_user, settings.admin_password)["Authorization"].split()[1]

    assert get(dashboard, headers={"Authorization": f"{scheme} {token}"}).status_code == 200


def test_a_password_with_colons_and_non_ascii_works(settings, queue):
    tricky = dataclasses.replace(settings, admin_user="boss", admin_password="pä:ss wörd")
    app = create_app(tricky, queue=queue)

    assert get(app, headers=basic("boss", "pä:ss wörd")).status_code == 200
    assert_refused(get(app, headers=basic("boss", "pä")))


def test_healthz_is_open_for_the_health_check(dashboard):
    result = get(dashboard, "/healthz")

    assert result.status_code == 200
    assert result.text == "ok"


def test_refuses_to_start_without_a_password(settings, queue):
    no_password = dataclasses.replace(settings, admin_password="")

    with pytest.raises(ValueError, match="password"):
        create_app(no_password, queue=queue)
