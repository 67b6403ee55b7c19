"""Jobs, the broker that carries them, and the store that records what became of them."""

from .broker import Queue, QueueConfig, connect
from .lifecycle import HandedOver, JobCancelled
from .progress import report_progress
from .registry import Job, JobSpec, job, specs
from .schedules import cron, every

__all__ = [
    "HandedOver",
    "Job",
    "JobCancelled",
    "JobSpec",
    "Queue",
    "QueueConfig",
    "connect",
    "cron",
    "every",
    "job",
    "report_progress",
    "specs",
]
