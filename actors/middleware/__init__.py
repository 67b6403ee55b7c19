"""Dramatiq middleware that connects the workers to the job store."""

from .cancellation import Cancellation
from .heartbeat import Heartbeat
from .job_state import JobState

__all__ = ["Cancellation", "Heartbeat", "JobState"]
