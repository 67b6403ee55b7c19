"""Fixtures of the store and worker tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

import actors
from actors import connection
from tests.support import redis_server, settings_for

#: The read timeout of the clients of :func:`freezable`, in seconds.
READ_TIMEOUT = 0.5


@pytest.fixture
def freezable(tmp_path, redis_binary, monkeypatch) -> Iterator[tuple[actors.Queue, int]]:
    """A queue on a Redis of the test's own, read with a short timeout, and the server's pid."""
    monkeypatch.setattr(connection, "READ_TIMEOUT", READ_TIMEOUT)
    with redis_server(tmp_path / "redis", redis_binary) as url:
        queue = actors.connect(settings_for(url).queue_config())
        pid = queue.broker.client.info("server")["process_id"]
        # Its scripts loaded, as a running worker's are: a fetch of nothing.
        queue.broker.fetch("default", 0)
        try:
            yield queue, pid
        finally:
            os.kill(pid, signal.SIGCONT)
