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
