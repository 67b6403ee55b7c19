"""Optional API keys: with ``API_KEYS`` set, changing jobs needs ``Authorization: Bearer <key>``.

Each operation declares its :class:`~.contract.Access`; this middleware
holds requests to it. Keys are compared in constant time, each of them, so
that the time an answer takes says nothing about how much of a key was right.
"""

from __future__ import annotations

import hmac

import falcon

from .contract import Access, operation_of

#: The challenge a refused request gets (RFC 6750).
CHALLENGE = 'Bearer realm="jobs"'


class ApiKeys:
    """Refuse, with 401, requests without a valid key to the operations that need one.

    Parameters:
      keys: the accepted keys; none turns the check off.
      for_reads: also hold reads (every operation but the health checks).
    """

    def __init__(self, keys: tuple[str, ...], *, for_reads: bool = False):
        self.keys = [key.encode() for key in keys]
        self.needing_key = {Access.WRITE, Access.READ} if for_reads else {Access.WRITE}

    def needs_key(self, access: Access) -> bool:
        return bool(self.keys) and access in self.needing_key

    async def process_resource(self, req, resp, resource, params) -> None:
        operation = operation_of(resource, req.method.lower())
        if operation is None or not self.needs_key(operation.access):
            return
        if not self._valid(req.get_header("Authorization") or ""):
            raise falcon.HTTPUnauthorized(
                title="Unauthorized",
                description="this operation needs an API key: Authorization: Bearer <key>",
                challenges=[CHALLENGE],
            )

    def _valid(self, authorization: str) -> bool:
        scheme, _, given = authorization.strip().partition(" ")
        # Schemes are case-insensitive (RFC 9110). Every key is compared.
        matches = [hmac.compare_digest(given.strip().encode(), key) for key in self.keys]
        return scheme.lower() == "bearer" and any(matches)
