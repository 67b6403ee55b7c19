"""Oversize bodies are refused with 413, through the load balancer as straight to an instance."""

from __future__ import annotations

import pytest
import requests


@pytest.mark.parametrize("over", [1, 64 * 1024, 4 << 20])
def test_every_oversize_body_gets_413_through_the_load_balancer(stack, over):
    body = b'{"actor": "add", "args": [1, 2]}'.ljust(stack.settings.max_request_bytes + over)
    headers = {"Content-Type": "application/json"}

    with requests.Session() as session:
        statuses = [
            session.post(stack.url + "/jobs", data=body, headers=headers, timeout=30).status_code
            for _ in range(24)
        ]

    assert set(statuses) == {413}, statuses
