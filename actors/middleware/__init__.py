"""Dramatiq middleware that connects the workers to the job store."""

from .cancellation import Cancellation
from .job_state import JobState

__all__ = ["Cancellation", "JobState"]
