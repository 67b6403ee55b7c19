"""The local stack refuses to start on a port that is taken, and says which and what to do."""

from __future__ import annotations

import io
import socket

import pytest

from services.settings import Settings
from services.stack.stack import Stack
from services.stack.supervisor import StackError

from ..support import free_ports


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def settings_with(**ports) -> Settings:
    lb, api_1, api_2, dashboard, ping, redis_port = free_ports(6)
    values = {
        "lb_port": lb,
        "api_ports": (api_1, api_2),
        "dashboard_port": dashboard,
        "traefik_ping_port": ping,
        "redis_port": redis_port,
        "admin_password": "unused",
    }
    return Settings(**{**values, **ports})


def test_a_taken_api_port_is_named_and_nothing_starts(tmp_path, taken_port):
    stack = Stack(settings_with(api_ports=(taken_port,)), tmp_path, log=io.StringIO())
    with pytest.raises(StackError, match=f"port {taken_port} .* is in use"):
        stack.start()
    assert stack.supervisor.processes == {}


def test_a_taken_redis_port_suggests_using_that_redis(tmp_path, taken_port):
    stack = Stack(settings_with(redis_port=taken_port), tmp_path, log=io.StringIO())
    with pytest.raises(StackError, match="REDIS_URL"):
        stack.start()
    assert stack.supervisor.processes == {}
