"""Progress reporting from inside a running job.

The job-state middleware installs a reporter for the message a worker
thread is processing; a job calls :func:`report_progress` without needing to
know where records are kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_current = threading.local()


def report_progress(value: float, message: str = "") -> None:
    """Record how far the current job has got: ``value`` from 0 to 1, and a note.

    Outside a worker (a job called as a plain function) this does nothing.
    """
    if not 0 <= value <= 1:
        raise ValueError(f"progress must be between 0 and 1, got {value}")
    reporter = getattr(_current, "reporter", None)
    if reporter is not None:
        reporter(float(value), message)


def install(reporter: Callable[[float, str], None] | None) -> None:
    """Set (or clear, with None) the reporter for this thread's job."""
    _current.reporter = reporter
