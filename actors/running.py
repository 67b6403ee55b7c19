"""Which job each worker thread runs now, so that an interrupt reaches that thread and no other.

dramatiq's ``raise_thread_exception`` aims at a thread's ident, and Python
gives the ident of a thread that ended to the next thread it starts. An
interrupt aimed by ident at a thread that has ended, or gone on to another
job, lands in whatever runs under that ident now: a job it was not meant
for, or a thread still starting, which then dies inside ``Thread.start()``
and leaves its starter waiting for good. So a running job is remembered
with its ``threading.Thread``, and interrupted only while that thread is
alive and still runs it.
"""

from __future__ import annotations

import threading

from dramatiq.threading import raise_thread_exception


class Running:
    """The job each thread runs now (one at a time), as its middleware or attempt names it.

    A job is anything compared with ``==``: a job id, or an
    :class:`~actors.attempt.Attempt`, which is itself.
    """

    def __init__(self) -> None:
        self._jobs: dict[threading.Thread, object] = {}
        self._lock = threading.Lock()

    def begin(self, job: object) -> None:
        """The calling thread runs ``job`` now, and no longer what it ran before."""
        with self._lock:
            self._jobs[threading.current_thread()] = job

    def end(self, job: object) -> None:
        """The calling thread no longer runs ``job`` (if it ran it)."""
        thread = threading.current_thread()
        with self._lock:
            if self._jobs.get(thread) == job:
                del self._jobs[thread]

    def interrupt(self, job: object, exception: type[BaseException]) -> bool:
        """Raise ``exception`` in the live thread running ``job``, if one is; whether one was."""
        with self._lock:
            for thread, running in list(self._jobs.items()):
                if not thread.is_alive():
                    del self._jobs[thread]  # it ended inside a job: its ident is another's now
                elif running == job:
                    raise_thread_exception(thread.ident, exception)
                    return True
            return False
