"""Fixtures: a real Redis-compatible server per session, a clean database per test."""

from __future__ import annotations

import pytest
import redis

import actors
from services.queue import connect

from .support import redis_server, settings_for


def pytest_collection_modifyitems(items):
    """Everything under tests/e2e is an end-to-end test."""
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
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
    return connect(settings)
