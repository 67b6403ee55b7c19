"""Queues and workers as Redis has them when scraped, at the dashboard's ``/metrics``.

Read at scrape time rather than counted by the processes that move messages:
a count kept in a process is lost when it dies and must be summed over every
producer and consumer, whereas Redis holds the truth for all of them. The
dashboard serves it: it is one process reading the broker anyway, so each
series is reported once, where every API instance would report it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import dramatiq
import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.storage.queues import QueueReadings
from services.api.errors import REDIS_RETRY_AFTER

#: Where the metrics are, on the dashboard's own port (the load balancer
#: sends only /admin there).
METRICS_PATH = "/metrics"


class QueueCollector(Collector):
    """Depth, delayed and dead-letter counts and oldest message's age per queue; workers alive.

    With Redis's memory against its maxmemory, and the writes it refused for
    want of it. At most three round trips to Redis per scrape, whatever the
    number of queues.
    """

    def __init__(self, broker: dramatiq.Broker):
        self.broker = broker
        self.readings = QueueReadings(broker.client, broker.keys)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        broker = self.broker
        figures = self.readings.figures(broker.get_declared_queues(), broker.heartbeat_timeout)
        now_ms = time.time() * 1000
        waiting = _gauge("jobqueue_queue_messages", "Messages waiting to run, by queue.")
        delayed = _gauge("jobqueue_queue_delayed_messages", "Messages waiting for their time.")
        dead = _gauge("jobqueue_queue_dead_letters", "Dead-lettered messages, by queue.")
        age = _gauge(
            "jobqueue_queue_oldest_message_age_seconds",
            "Time since the message first in line was sent; 0 for an empty queue.",
        )
        for queue, counts in figures.queues.items():
            waiting.add_metric([queue], counts.waiting)
            delayed.add_metric([queue], counts.delayed)
            dead.add_metric([queue], counts.dead)
            sent_at = counts.oldest_sent_at
            age.add_metric([queue], 0 if sent_at is None else max(0, now_ms - sent_at) / 1000)
        yield from (waiting, delayed, dead, age)
        yield GaugeMetricFamily(
            "jobqueue_workers_alive",
            "Worker processes whose heartbeat is recent.",
            figures.workers_alive,
        )
        yield GaugeMetricFamily(
            "jobqueue_redis_memory_used_bytes", "Memory Redis uses.", figures.memory_used
        )
        yield GaugeMetricFamily(
            "jobqueue_redis_memory_max_bytes",
            "Redis's maxmemory (REDIS_MAXMEMORY): past it, writes are refused; 0 for no limit.",
            figures.memory_max,
        )
        yield CounterMetricFamily(
            "jobqueue_redis_writes_refused",
            "Commands Redis refused for want of memory since it started: while it does, "
            "submissions get 503 and workers take no jobs.",
            figures.writes_refused,
        )


def _gauge(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=["queue"])


def queue_metrics(broker: dramatiq.Broker, *collectors: Collector) -> Callable:
    """A WSGI app answering the queues' metrics (Prometheus' text format), whatever the path.

    ``collectors``: more that Redis holds the truth of (the workflows').

    Redis down: 503, which Prometheus records as the target being down.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(broker))
    for collector in collectors:
        registry.register(collector)

    def serve(environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            body = generate_latest(registry)
        except redis.RedisError as error:
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "text/plain"), ("Retry-After", str(REDIS_RETRY_AFTER))],
            )
            return [f"Redis is unavailable: {error}".encode()]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]

    return serve
