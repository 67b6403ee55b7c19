"""A Redis that would evict queued jobs to make room is refused when a service starts."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import redis

from services.redis_policy import check_eviction
from services.settings import SettingsError
from tests.support import PROJECT_DIR, settings_for


@pytest.fixture
def evicting(clean_redis):
    """The test Redis, set to evict as managed services often are; set back afterwards."""
    client = redis.Redis.from_url(clean_redis)
    client.config_set("maxmemory-policy", "allkeys-lru")
    yield clean_redis
    client.config_set("maxmemory-policy", "noeviction")


def test_a_redis_that_never_evicts_is_accepted(clean_redis):
    check_eviction(settings_for(clean_redis))


def test_an_evicting_redis_is_refused_saying_why_and_what_to_do(evicting):
    with pytest.raises(SettingsError) as refused:
        check_eviction(settings_for(evicting))

    assert str(refused.value) == (
        "the Redis at REDIS_URL evicts keys when full (maxmemory-policy allkeys-lru): "
        "queued jobs and job records would vanish without a word; set its maxmemory-policy "
        "to noeviction (or REDIS_ALLOW_EVICTION=true to run anyway)"
    )


def test_allowed_eviction_runs_and_says_so_loudly(evicting, caplog):
    with caplog.at_level(logging.WARNING):
        check_eviction(settings_for(evicting, redis_allow_eviction=True))

    assert "REDIS_ALLOW_EVICTION is set, running anyway" in caplog.text


def test_an_unreachable_redis_is_not_refused(unreachable_settings):
    check_eviction(unreachable_settings)


def test_a_container_on_an_evicting_redis_exits_with_one_line(evicting):
    env = {**os.environ, **settings_for(evicting).to_env()}
    result = subprocess.run(
        [sys.executable, "-m", "services.entrypoint", "worker"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("configuration error: the Redis at REDIS_URL evicts keys")
