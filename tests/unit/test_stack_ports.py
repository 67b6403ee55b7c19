"""The local stack refuses to start on a port that is taken, and says which and what to do."""

from __future__ import annotations

import io
import socket

import pytest

from services.stack.ports import EPHEMERAL_RANGE_FILE, bindable, unused_ports
from services.stack.stack import Stack
from services.stack.supervisor import StackError

from ..e2e.conftest import stack_settings
from ..support import free_port_range, free_ports


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


def test_ports_the_stack_chooses_are_never_given_to_connections(taken_port):
    """A connection given an instance's port would keep that instance from starting again."""
    first_ephemeral, last_ephemeral = map(int, EPHEMERAL_RANGE_FILE.read_text().split())
    connections = [socket.create_connection(("127.0.0.1", taken_port)) for _ in range(50)]
    try:
        given = {connection.getsockname()[1] for connection in connections}
        chosen = unused_ports(200)
    finally:
        for connection in connections:
            connection.close()

    assert all(first_ephemeral <= port <= last_ephemeral for port in given)
    assert len(set(chosen)) == 200
    assert not any(first_ephemeral <= port <= last_ephemeral for port in chosen)


def test_a_run_of_ports_is_free_and_handed_out_once():
    first = free_port_range(5)
    run = list(range(first, first + 5))

    assert bindable("127.0.0.1", run)
    assert set(free_ports(50)).isdisjoint(run)
    assert free_port_range(5) not in range(first - 4, first + 5)
    # Something listening on one of its ports rules the run out.
    with socket.create_server(("127.0.0.1", run[2])):
        assert not bindable("127.0.0.1", run)


def test_no_ports_asked_none_given():
    assert unused_ports(0) == []
