"""The one place where settings become a Redis client, a broker and a job store."""

from __future__ import annotations

import dataclasses

import redis

import actors
from actors.connection import RedisConfig, async_client, client
from actors.replication import Confirmation
from actors.store import JobStore

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


#: Connections to Redis an API process opens at most (and the subscription streams share).
API_REDIS_CONNECTIONS = 32
#: How long a request waits for one of them before it is answered 503.
API_REDIS_WAIT_SECONDS = 5


def on_asyncio(queue: actors.Queue, settings: Settings) -> actors.Queue:
    """``queue`` with its store on a ``redis.asyncio`` client: the API's, one pool per process.

    The broker only prepares messages there (the store writes them), so it
    keeps its blocking client, which never connects.
    """
    store = JobStore(
        async_client(
            redis_config(settings),
            max_connections=API_REDIS_CONNECTIONS,
            wait_seconds=API_REDIS_WAIT_SECONDS,
        ),
        retention_seconds=queue.store.retention_seconds,
        namespace=queue.store.keys.namespace,
        confirmation=queue.store.confirmation,
    )
    return dataclasses.replace(queue, store=store)
