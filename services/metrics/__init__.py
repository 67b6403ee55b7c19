"""Prometheus metrics of every service, and how each is served.

- :mod:`.multiprocess`: one registry across the processes of an API
  instance or a worker (prometheus-client's multiprocess mode).
- :mod:`.api`: the API's requests and the jobs it submits, at the API's
  ``/metrics``.
- :mod:`.queues`: queues and workers, read from Redis when scraped, at the
  dashboard's ``/metrics``.
- :mod:`.worker`: a worker's ``/metrics``, on a port of its own. What the
  worker counts is declared beside its middleware, in
  ``actors/middleware/metrics.py``.
"""

import os

from prometheus_client import values

#: This process's id, as it was at its start or after its last fork.
_process_id = os.getpid()


def _forked() -> None:
    global _process_id
    _process_id = os.getpid()


def process_id() -> int:
    """This process's id, without a system call: what multiprocess metrics file their values by."""
    return _process_id


# prometheus-client's multiprocess values ask the kernel for the process id
# at every change, to notice a fork (which gives the child files of its own);
# a fork tells us instead. Before any value exists: values of two classes
# would keep two views of one file.
os.register_at_fork(after_in_child=_forked)
if values.ValueClass is not values.MutexValue:
    values.ValueClass = values.MultiProcessValue(process_identifier=process_id)
