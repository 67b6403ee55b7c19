"""Worker liveness that does not depend on fetching, and quick recovery from dead workers."""

from __future__ import annotations

import itertools
import threading

import dramatiq
import redis
from dramatiq.common import current_millis
from dramatiq.logging import get_logger
from dramatiq.middleware import Middleware

from ..storage import codecs
from ..storage.lua import source


class Heartbeat(Middleware):
    """Beats for this worker process from a thread of its own, and reaps dead workers.

    Dramatiq's Redis broker counts a worker alive while it sends commands, so a
    worker whose threads are all busy with long jobs stops fetching and looks
    dead; the heartbeat timeout therefore had to be long (a minute), and a
    crashed worker's jobs waited that long. A thread beating every
    ``interval_ms`` keeps the process alive however long its jobs run, and dies
    with it, so the timeout can be a few seconds. Each beat also hands the
    messages of workers whose heartbeat timed out back to the front of their
    queues (see ``storage/lua/heartbeat.lua``); only processes that run a worker beat,
    so only they are listed as workers.

    A worker whose own beats failed (Redis full or away) reaps no one for a
    heartbeat timeout after its next beat succeeds: the other workers' beats
    failed too, and they get that long to beat again before they are
    presumed dead.

    Parameters:
      interval_ms(int): Time between beats; well under the broker's
        heartbeat timeout.
    """

    def __init__(self, *, interval_ms: int = 1000):
        self.interval_ms = interval_ms
        self.logger = get_logger(__name__, type(self))
        self._stopping = threading.Event()
        self._script = None
        #: When this worker may reap others again (ms), after its own beats failed.
        self._reaps_from = 0

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Before any message is fetched: the beat is what tells others this
        # worker's messages are in good hands.
        self.beat(broker)
        # The dashboard lists workers by broker id; this is the name they go by.
        broker.client.hset(broker.keys.worker_names, broker.broker_id, broker.worker_name)
        threading.Thread(target=self._run, args=(broker,), name="heartbeat", daemon=True).start()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stopping.set()
        # Leaving: the beat that marks this worker dead hands back whatever
        # it still holds and takes it off the list of workers at once.
        self.beat(broker, alive=False)

    def beat(self, broker: dramatiq.Broker, *, alive: bool = True, expire: bool = True) -> int:
        """Beat once, or with ``alive`` false mark this worker gone; return messages handed back.

        With ``expire``, dead letters past their time to live go too, those
        of every queue that ever had one. The messages this worker holds
        that are no longer its own (it was presumed dead, and they were
        handed back) are given up: their runs here are interrupted. The
        messages of its acks that it neither holds nor settles (Redis lost
        their settling) go back to their queue.
        """
        if self._script is None:
            self._script = broker.client.register_script(source(codecs.Heartbeat.FILE))
        holdings = broker.holdings() if alive else []
        held = [(h.queue_name, redis_id, attempt) for h in holdings for redis_id, attempt in h.held]
        now = current_millis()
        reaps = not alive or 0 <= self._reaps_from <= now
        call = codecs.Heartbeat.call(
            broker.keys,
            now=now,
            worker_id=broker.broker_id,
            alive=alive,
            reap_after_ms=broker.heartbeat_timeout if reaps else None,
            dead_letters_ttl_ms=broker.dead_message_ttl if expire else None,
            held=[(queue_name, redis_id) for queue_name, redis_id, _ in held],
            fetched=[(h.queue_name, h.fetched_through, h.settling) for h in holdings],
            queues=sorted(broker.get_declared_queues()) if expire else (),
        )
        requeued, forgotten, positions = codecs.Heartbeat.reply(
            self._script(keys=call.keys, args=call.args)
        )
        if requeued:
            self.logger.warning("Handed back %d message(s) of workers that died.", requeued)
        if forgotten:
            self.logger.warning(
                "Handed back %d message(s) whose settling Redis lost (it restarted?).", forgotten
            )
        lost = [held[position] for position in positions]
        for consumer, items in itertools.groupby(lost, key=lambda item: item[2].consumer):
            if consumer is not None:
                consumer.lose([(redis_id, attempt) for _, redis_id, attempt in items])
        return requeued

    def _run(self, broker: dramatiq.Broker) -> None:
        # Dead letters live for days: looking for expired ones once a minute is plenty.
        beats_per_expiry = max(1, 60_000 // self.interval_ms)
        for beat in itertools.count(1):
            if self._stopping.wait(self.interval_ms / 1000):
                return
            try:
                self.beat(broker, expire=beat % beats_per_expiry == 0)
            except redis.RedisError as error:
                self.logger.warning("Heartbeat failed (%s); retrying.", error)
                self._reaps_from = -1
            else:
                if self._reaps_from < 0:
                    self._reaps_from = current_millis() + broker.heartbeat_timeout
