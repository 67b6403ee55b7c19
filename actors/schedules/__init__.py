"""Schedules: jobs run every so long or at cron times, exactly once per tick however many fire.

Declared in code with a job (``@job(schedule=every("5m"))``) or over HTTP
(``/schedules``), kept in Redis, fired by every worker (``firing.py``).
"""

from .definition import Misfire, ScheduleDefinition, cron, every

__all__ = ["Misfire", "ScheduleDefinition", "cron", "every"]
