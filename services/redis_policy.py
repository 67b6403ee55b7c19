"""Refusing a Redis that evicts keys: queued jobs and their records would vanish without a word.

A Redis with ``maxmemory`` and an evicting ``maxmemory-policy`` (``allkeys-lru``,
as managed services often set it) makes room by dropping keys, a queued job's
message or record among them; with ``noeviction`` it refuses writes instead,
which the API answers with 503 and the workers wait out. The stack's own
Redis runs with ``noeviction``; one given in ``REDIS_URL`` is checked when a
service starts.
"""

from __future__ import annotations

import logging

import redis

from actors.connection import client as redis_client

from .settings import Settings, SettingsError

logger = logging.getLogger(__name__)

#: The one policy under which Redis never drops a key to make room.
NO_EVICTION = "noeviction"


def eviction_policy(client: redis.Redis) -> str:
    """The server's ``maxmemory-policy``, from INFO (CONFIG may be disabled on a managed Redis)."""
    return str(client.info("memory").get("maxmemory_policy", NO_EVICTION))


def check_eviction(settings: Settings) -> None:
    """Raise :class:`SettingsError` if the settings' Redis evicts keys, unless allowed (loudly).

    A Redis that cannot be reached is not refused: the services start, and
    answer 503 until it can.
    """
    client = redis_client(settings.redis_config())
    try:
        policy = eviction_policy(client)
    except redis.RedisError:
        return
    finally:
        client.close()
    if policy == NO_EVICTION:
        return
    problem = (
        f"the Redis at REDIS_URL evicts keys when full (maxmemory-policy {policy}): "
        "queued jobs and job records would vanish without a word"
    )
    if settings.redis_allow_eviction:
        logger.warning("%s; REDIS_ALLOW_EVICTION is set, running anyway.", problem)
        return
    raise SettingsError(
        f"{problem}; set its maxmemory-policy to {NO_EVICTION} "
        "(or REDIS_ALLOW_EVICTION=true to run anyway)"
    )
