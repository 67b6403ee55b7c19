"""The local stack refuses to start on a port that is taken, and says which and what to do."""

from __future__ import annotations

import io
import socket

import pytest

from services.stack.stack import Stack
from services.stack.supervisor import StackError

from ..e2e.conftest import stack_settings


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_api_port_is_named_and_nothing_starts(tmp_path, taken_port):
    stack = Stack(stack_settings(api_ports=(taken_port,)), tmp_path, log=io.StringIO())
    with pytest.raises(StackError, match=f"port {taken_port} .* is in use"):
        stack.start()
    assert stack.supervisor.processes == {}


def test_a_taken_redis_port_suggests_using_that_redis(tmp_path, taken_port):
    stack = Stack(stack_settings(redis_port=taken_port), tmp_path, log=io.StringIO())
    with pytest.raises(StackError, match="REDIS_URL"):
        stack.start()
    assert stack.supervisor.processes == {}
