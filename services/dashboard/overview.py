"""The console's overview: live charts of the last hour, from figures the service keeps itself.

``/overview.json`` is what the overview's script (``static/overview.js``)
draws and asks for again every few seconds: jobs succeeded and failed per
second, the queues' depth and oldest message's age, and how long attempts
ran (``actors.stats``). The queues are sampled here, on each request and
every ``SPAN`` seconds while the dashboard runs, so their history goes back
to when the dashboard started (or an hour).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import redis
from dramatiq_dashboard.http import Request, Response, handler

from actors import Queue
from actors.stats import SPAN, Stats
from actors.storage.queues import QueueReadings

from .guard import only_get

logger = logging.getLogger(__name__)

#: The overview's script, served as a file so that the page needs no inline script.
SCRIPT = Path(__file__).with_name("static").joinpath("overview.js").read_bytes()


class OverviewPages:
    """``/overview.json`` and ``/overview.js``: what the overview's page draws, and how."""

    policy = False

    def __init__(self, queue: Queue):
        self.stats = Stats(queue.store.client, queue.store.keys)
        self.broker = queue.broker
        self.readings = QueueReadings(queue.broker.client, queue.broker.keys)
        self._sampling = threading.Lock()
        self._sampler: threading.Thread | None = None
        self.routes = [("/overview.json", self.figures), ("/overview.js", self.script)]

    @handler
    def figures(self, req: Request):
        only_get(req)
        self._start_sampling()
        now = time.time()
        depth, oldest, workers = self.sample(now)
        figures = self.stats.last_hour(now)
        figures["now"] = {"depth": depth, "oldest": oldest, "workers": workers}
        return Response(
            headers=[("Content-Type", "application/json"), ("Cache-Control", "no-store")],
            content=json.dumps(figures).encode(),
        )

    @handler
    def script(self, req: Request):
        only_get(req)
        return Response(
            headers=[("Content-Type", "text/javascript; charset=utf-8")], content=SCRIPT
        )

    def sample(self, now: float) -> tuple[int, float, int]:
        """Messages waiting in every queue, the oldest one's age (s) and workers alive, kept."""
        figures = self.readings.figures(
            self.broker.get_declared_queues(), self.broker.heartbeat_timeout
        )
        depth = sum(queue.waiting for queue in figures.queues.values())
        sent = [q.oldest_sent_at for q in figures.queues.values() if q.oldest_sent_at is not None]
        oldest = max(0.0, now - min(sent) / 1000) if sent else 0.0
        self.stats.sample_queues(depth, oldest, now)
        return depth, oldest, figures.workers_alive

    def _start_sampling(self) -> None:
        """Sample the queues every SPAN seconds from the first request on, in this process."""
        with self._sampling:
            if self._sampler is None:
                self._sampler = threading.Thread(
                    target=self._sample_forever, name="overview-sampler", daemon=True
                )
                self._sampler.start()

    def _sample_forever(self) -> None:
        while True:
            time.sleep(SPAN)
            try:
                self.sample(time.time())
            except redis.RedisError as error:
                logger.warning("Could not sample the queues for the overview: %s", error)
