"""HTTP basic auth (RFC 7617) in front of the dashboard.

Traefik already asks for credentials on /admin; the dashboard asks again, so
that its own port is never open either, whoever can reach it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Iterable

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class BasicAuth:
    """Tells whether a request carries the configured user and password, and asks for them.

    Parameters:
      user, password: the only credentials accepted; an empty password is refused.
      realm: what browsers show in their login prompt.
    """

    def __init__(self, *, user: str, password: str, realm: str = "dashboard"):
        if not password:
            raise ValueError("the dashboard needs a password; none was configured")
        self.expected = f"{user}:{password}".encode()
        self.realm = realm

    def allows(self, environ: dict) -> bool:
        return self._valid(environ.get("HTTP_AUTHORIZATION", ""))

    def challenge(self, start_response: Callable) -> Iterable[bytes]:
        """Answer 401, asking for credentials."""
        start_response(
            "401 Unauthorized",
            [
                ("Content-Type", "text/plain"),
                ("WWW-Authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'),
            ],
        )
        return [b"credentials required"]

    def _valid(self, header: str) -> bool:
        # The scheme is case-insensitive (RFC 7617 section 2); the token is not.
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(token.strip().encode("latin-1"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            return False
        return hmac.compare_digest(given, self.expected)
