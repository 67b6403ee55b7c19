"""Limits that keep the service for everyone, through the load balancer of a real stack."""

from __future__ import annotations

import math
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from ..support import assert_problem
from .conftest import RunningStack, stack_settings, start_stack

KEY = "e2e-api-key"
ADD = {"actor": "add", "args": [1, 2]}
#: Submissions one client may send at once, and then a second.
BURST, RATE = 5, 1


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> RunningStack:
    settings = stack_settings(api_keys=(KEY,), submit_rate=RATE, submit_burst=BURST, workers=1)
    running = start_stack(tmp_path_factory.mktemp("limits"), settings)
    try:
        yield running
    finally:
        running.stack.stop()


def test_without_the_key_submitting_is_401_and_reading_is_not(guarded):
    refused = guarded.post("/jobs", json=ADD)

    assert_problem(refused, 401, "API key")
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="jobs"'
    assert guarded.get("/actors").status_code == 200
    accepted = guarded.post("/jobs", json=ADD, headers={"Authorization": f"Bearer {KEY}"})
    assert accepted.status_code == 202, accepted.text


def test_a_client_submitting_too_fast_gets_429_with_retry_after(guarded):
    headers = {"Authorization": f"Bearer {KEY}"}
    statuses = []
    started = time.monotonic()
    for _ in range(4 * BURST):
        result = guarded.post("/jobs", json=ADD, headers=headers)
        statuses.append(result.status_code)
        if result.status_code == 429:
            limited = result

    # Some got through, then the load balancer refused the rest before any instance saw them.
    assert statuses[0] == 202 and 429 in statuses, statuses
    # The burst, then RATE a second for as long as the loop took.
    assert statuses.count(202) <= BURST + RATE * math.ceil(time.monotonic() - started), statuses
    assert int(limited.headers["Retry-After"]) >= 1
    # Reads are not submissions: they are not limited.
    assert all(guarded.get("/actors").status_code == 200 for _ in range(2 * BURST))


#: Connections that send half a request and then nothing.
SLOW_CLIENTS = 200


def test_slow_clients_on_an_api_port_do_not_block_it(any_stack):
    url = any_stack.api_urls[0]
    address = urlsplit(url)
    slow = []
    try:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection((address.hostname, address.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(sock)

        answers = [requests.get(f"{url}/healthz", timeout=5).status_code for _ in range(20)]
    finally:
        for sock in slow:
            sock.close()

    assert answers == [200] * 20
