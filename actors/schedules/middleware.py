"""Firing schedules in every worker process, and declaring those of ``@job`` as it starts."""

from __future__ import annotations

import logging
import threading

import redis
from dramatiq.middleware import Middleware

from .operations import Schedules

logger = logging.getLogger(__name__)


class Firing(Middleware):
    """Runs a firer in a thread of each worker process, from boot to shutdown.

    Every worker fires, rather than one scheduler process: workers are
    already as many as the stack needs and restarted when they die, and a
    tick is claimed with its job atomically, so any number of them fire
    each tick once. When none runs, no job could run either; the first to
    start catches up as each schedule's misfire policy says.

    Parameters:
      schedules: the schedules to declare and fire.
    """

    def __init__(self, schedules: Schedules):
        self.schedules = schedules
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker) -> None:
        try:
            self.schedules.declare()
        except redis.RedisError as error:
            # Declared again at the next start; firing goes on with what is stored.
            logger.warning("Schedules declared in code not written: %s", error)
        self._thread = threading.Thread(
            target=self.schedules.firer.fire_until,
            args=(self._stop,),
            name="schedule-firer",
            daemon=True,
        )
        self._thread.start()

    def before_worker_shutdown(self, broker, worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
