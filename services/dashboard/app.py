"""The dashboard app: dramatiq-dashboard behind HTTP basic auth.

Traefik already asks for credentials on /admin; the dashboard asks again, so
that its own port is never open either, whoever can reach it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Iterable

from dramatiq_dashboard import DashboardApp

from services.queue import connect
from services.settings import Settings

#: Where Traefik routes the dashboard. Traefik strips it before forwarding;
#: the dashboard puts it back into the links it renders.
PREFIX = "/admin"

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class BasicAuth:
    """Answer 401 unless the request carries the configured user and password."""

    def __init__(self, app: WSGIApp, *, user: str, password: str, realm: str = "dashboard"):
        if not password:
            raise ValueError("the dashboard needs a password; none was configured")
        self.app = app
        self.expected = b"Basic " + base64.b64encode(f"{user}:{password}".encode())
        self.realm = realm

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        given = environ.get("HTTP_AUTHORIZATION", "").encode()
        if self._valid(given):
            return self.app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [
                ("Content-Type", "text/plain"),
                ("WWW-Authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'),
            ],
        )
        return [b"credentials required"]

    def _valid(self, given: bytes) -> bool:
        try:
            base64.b64decode(given.removeprefix(b"Basic "), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self.expected)


def create_app(settings: Settings, broker=None) -> WSGIApp:
    broker = broker or connect(settings).broker
    return BasicAuth(
        DashboardApp(broker, prefix=PREFIX),
        user=settings.admin_user,
        password=settings.admin_password,
    )
