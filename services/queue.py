"""The one place where settings become a broker and a job store."""

from __future__ import annotations

import actors

from .settings import Settings


def connect(settings: Settings) -> actors.Queue:
    return actors.connect(
        actors.QueueConfig(
            redis_url=settings.effective_redis_url,
            job_retention_seconds=settings.job_retention_seconds,
            default_max_retries=settings.default_max_retries,
            default_min_backoff_ms=settings.default_min_backoff_ms,
            default_time_limit_ms=settings.default_time_limit_ms,
            heartbeat_timeout_ms=settings.heartbeat_timeout_ms,
            job_modules=settings.job_modules,
        )
    )
