"""What ``dramatiq services.worker`` loads: the broker with every actor declared on it."""

import logging

import dramatiq

from .queue import connect
from .settings import load_settings


class _ResultsAreStored(logging.Filter):
    """Drop dramatiq's warning that a job's return value is discarded.

    It is not: the JobState middleware stores it in the job's record. Dramatiq
    only knows of its own Results middleware, which this service does not use.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "haven't added the Results middleware" not in record.getMessage()


logging.getLogger("dramatiq.worker.WorkerThread").addFilter(_ResultsAreStored())
broker = connect(load_settings()).broker
dramatiq.set_broker(broker)
