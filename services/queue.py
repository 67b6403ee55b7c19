"""The one place where settings become a Redis client, a broker and a job store."""

from __future__ import annotations

import redis

import actors
from actors.connection import RedisConfig, client
from actors.replication import Confirmation

from .settings import Settings


def redis_config(settings: Settings) -> RedisConfig:
    """Where Redis is: REDIS_SENTINELS and the master's name if set, else REDIS_URL."""
    return RedisConfig(
        url=settings.effective_redis_url,
        sentinels=settings.sentinel_addresses,
        master_name=settings.redis_master_name,
        confirmation=Confirmation(
            replicas=settings.redis_confirming_replicas,
            timeout_ms=settings.redis_confirm_timeout_ms,
        ),
    )


def redis_client(settings: Settings) -> redis.Redis:
    """A client of the Redis the settings name (its master, behind Sentinel)."""
    return client(redis_config(settings))


def connect(settings: Settings) -> actors.Queue:
    return actors.connect(
        actors.QueueConfig(
            redis=redis_config(settings),
            job_retention_seconds=settings.job_retention_seconds,
            default_max_retries=settings.default_max_retries,
            default_min_backoff_ms=settings.default_min_backoff_ms,
            default_time_limit_ms=settings.default_time_limit_ms,
            heartbeat_timeout_ms=settings.heartbeat_timeout_ms,
            job_modules=settings.job_modules,
            instance_name=settings.instance_name,
        )
    )
