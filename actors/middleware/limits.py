"""Hold each job to its limits across every worker, without a retry or a thread spent waiting."""

from __future__ import annotations

import threading

import dramatiq
import redis
from dramatiq.common import current_millis
from dramatiq.logging import get_logger
from dramatiq.middleware import Middleware, SkipMessage

from .. import lifecycle
from ..attempt import attempt_of
from ..lanes import job_name
from ..limits import Limit
from ..storage import codecs
from ..storage.lua import source
from ..store import JobStore


class Limits(Middleware):
    """Lets a job declared with ``concurrency`` or ``rate`` start only within its limits.

    When a worker thread takes up such a job, one script call
    (``storage/lua/limits.lua``) takes one of the job's slots and one of its starts,
    or sets the message aside: out of this worker's hands, its job back to
    "queued", until a slot frees or the rate allows. The thread goes on to
    other messages at once: a job over its limit spends no retry, logs no
    error and holds up no other job. When a limited job ends, its slot goes
    and the message that waited longest goes back to the front of its
    queue; every ``interval_ms`` each worker also puts back what the rate
    now allows, and the messages whose slot was held by a worker that died.

    Goes before ``Cancellation`` and ``JobState``: a message set aside has
    not started.

    Parameters:
      store(JobStore): where the job records are, to hand a job set aside
        back to "queued" (None: no records).
      interval_ms(int): Time between two looks for messages that may go back.
    """

    actor_options = {"concurrency", "rate"}

    def __init__(self, store: JobStore | None, *, interval_ms: int = 1000):
        self.store = store
        self.interval_ms = interval_ms
        self.logger = get_logger(__name__, type(self))
        self._limits: dict[str, Limit | None] = {}
        self._script = None
        self._stopping = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._declared(broker):
            threading.Thread(target=self._sweep, args=(broker,), name="limits", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stopping.set()

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        limit = self._limit(broker, message.actor_name)
        if limit is None:
            return
        attempt = attempt_of(message)
        acquire = codecs.Limits.acquire(
            _slots(job_name(message.actor_name), limit),
            broker.broker_id,
            message.queue_name,
            message.options["redis_message_id"],
            writes=self.store.writes if self.store is not None else None,
            job_id=message.message_id,
            handed_back=lifecycle.hand_back(attempt.number) if attempt.number else None,
        )
        try:
            started = self._call(broker, "acquire", acquire)
        except redis.RedisError as error:
            # Without Redis its end cannot be written either; running it is no worse.
            self.logger.warning("Could not check the limits of %s (%s).", message, error)
            return
        if not started:
            attempt.waits_for_limit = True
            raise SkipMessage(f"job {message.message_id} waits for its limit")
        attempt.holds_limit = True

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        self._release(broker, message)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        self._release(broker, message)

    def _release(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        attempt = attempt_of(message)
        if not attempt.holds_limit:
            return
        attempt.holds_limit = False
        limit = self._limit(broker, message.actor_name)
        try:
            self._call(broker, "release", self._of(broker, message, limit))
        except redis.RedisError as error:
            # The slot frees itself once the message is acked.
            self.logger.warning("Could not release the limit of %s (%s).", message, error)

    def _sweep(self, broker: dramatiq.Broker) -> None:
        declared = codecs.Limits.sweep(_slots(*job) for job in self._declared(broker).items())
        while not self._stopping.wait(self.interval_ms / 1000):
            try:
                self._call(broker, "sweep", declared)
            except redis.RedisError as error:
                self.logger.warning("Could not look for jobs waiting for their limits (%s).", error)

    def _declared(self, broker: dramatiq.Broker) -> dict[str, Limit]:
        """The limited jobs of ``broker``'s actors, by job name."""
        limits = {
            job_name(name): self._limit(broker, name) for name in broker.get_declared_actors()
        }
        return {job: limit for job, limit in limits.items() if limit is not None}

    def _limit(self, broker: dramatiq.Broker, actor_name: str) -> Limit | None:
        if actor_name not in self._limits:
            self._limits[actor_name] = Limit.of(broker.get_actor(actor_name).options)
        return self._limits[actor_name]

    def _of(
        self, broker: dramatiq.Broker, message: dramatiq.Message, limit: Limit
    ) -> list[str | int]:
        """The script's arguments naming ``message``'s limit, and the message as this worker's."""
        return codecs.Limits.message(
            _slots(job_name(message.actor_name), limit),
            broker.broker_id,
            message.queue_name,
            message.options["redis_message_id"],
        )

    def _call(self, broker: dramatiq.Broker, command: str, args: list[str | bytes | int]):
        if self._script is None:
            self._script = broker.client.register_script(source(codecs.Limits.FILE))
        call = codecs.Limits.call(
            broker.keys,
            command,
            now=current_millis(),
            heartbeat_timeout=broker.heartbeat_timeout,
            args=args,
        )
        return self._script(keys=call.keys, args=call.args)


def _slots(job: str, limit: Limit) -> codecs.LimitSlots:
    return codecs.LimitSlots(job, limit.concurrency, limit.count, limit.period_ms)
