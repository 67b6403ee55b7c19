"""The Redis broker, its middleware, and the job store that share one connection pool.

What of dramatiq the broker and the worker's consumer (``consumer.py``)
override or rely on. dramatiq is pinned (``pyproject.toml``) to the release
these were read from, 2.2.1: an upgrade checks each against its sources.

Overridden (our code runs in place of dramatiq's):

* ``dramatiq.brokers.redis.RedisBroker``: ``_dispatch`` (private; its
  ``__getattr__`` still turns ``do_purge`` and ``do_qsize``, which ``flush``
  and ``join`` call, into it), ``do_enqueue`` (called by ``enqueue``),
  ``consume`` and ``consumer_class``, ``emit_before`` and ``emit_after``
  (dramatiq's, narrowed to the middleware that implement a hook: they must
  keep its rules, a ``MiddlewareError`` stops a message, any other error is
  logged, after_* hooks run in reverse), ``add_middleware``, and the script
  in ``self.scripts["dispatch"]``: ``storage/lua/dispatch.lua`` is dramatiq's
  ``brokers/redis/dispatch.lua`` of 2.2.1, changed (its header says how),
  taking the ARGV that dramatiq's ``_dispatch`` builds.
* ``dramatiq.brokers.redis._RedisConsumer`` (a private class):
  ``__next__``, ``ack``, ``nack``, ``requeue`` and ``close``; it keeps
  ``message_cache`` and ``queued_message_ids``, which dramatiq's
  ``outstanding_message_count`` counts.
* ``dramatiq.broker.MessageProxy`` is subclassed by ``attempt.JobMessage``.
* The logger named ``dramatiq.worker.WorkerThread`` gets a class of ours
  (``middleware/job_state.py``) that drops two of its warnings, matched by
  their text and their first argument.

Relied on (read or called as dramatiq 2.2.1 has them):

* Broker attributes and helpers: ``broker_id``, ``namespace``, ``client``,
  ``scripts``, ``heartbeat_timeout``, ``dead_message_ttl``,
  ``maintenance_chance``, ``_should_do_maintenance`` and
  ``_max_unpack_size`` (private); ``dramatiq.common``'s ``current_millis``,
  ``dq_name`` and ``xq_name``.
* dramatiq's Redis key layout (``<queue>``, ``.msgs``, ``.DQ``, ``.XQ``,
  ``__heartbeats__``, ``__acks__.<broker id>.<queue>``; see
  ``storage/keys.py``), which dramatiq-dashboard reads too, and a message's
  ``redis_message_id`` and ``eta`` options.
* ``dramatiq.worker``: ``ConsumerThread.post_process_message`` acks or
  nacks by ``message.failed`` and retries one that raises
  ``ConnectionClosed``; ``ConsumerThread.close`` and ``Worker.stop`` hand
  messages back through the consumer's ``requeue`` before its ``close``;
  the consumer reads a ``ConsumerThread``'s ``running``, ``paused`` and
  ``delay_queue`` (a ``PriorityQueue`` of items with ``priority`` and
  ``message``); ``do_enqueue`` finds a delayed message come due by its dramatiq id in the
  ``consumer`` of the ``ConsumerThread`` that sends it
  (``handle_delayed_messages`` sends it, then acks it);
  ``WorkerThread.process_message`` runs a ``SkipMessage`` to
  ``after_skip_message``.
* The middleware: ``Retries`` sends a retried message again and marks one
  it gives up on ``failed`` (as ``AgeLimit`` does one too old, which it
  skips); the after_* hooks run in reverse order, which the order in
  ``middleware.broker_middleware`` counts on; ``actor_options`` of each.
* ``dramatiq.threading.raise_thread_exception`` interrupts a running job.
* ``middleware/time_limit.py`` subclasses ``TimeLimit``: its ``__init__``
  sets ``time_limit`` and ``manager`` (which it replaces), and the interrupt
  is ``TimeLimitExceeded``.
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import dramatiq
import redis
from dramatiq.brokers import redis as dramatiq_redis
from dramatiq.common import current_millis, dq_name
from dramatiq.encoder import JSONEncoder
from dramatiq.errors import DecodeError
from dramatiq.middleware import Middleware, MiddlewareError
from dramatiq.worker import ConsumerThread

from . import connection, lifecycle, replication
from .consumer import Holding, RedisConsumer, Settlement
from .dispatch import Room
from .fetch_numbers import FetchNumbers
from .middleware import broker_middleware
from .registry import JobDefaults, JobSpec, attach, bind, specs
from .states import STARTABLE_STATES
from .storage import Keys
from .storage.codecs import ComeDue, Dispatch, Fetched, JobWrites, Send
from .storage.lua import source
from .storage.record import compact_json
from .store import BrokerMessage, JobStore

#: Time between two tries of a message a worker sends while Redis is full or away.
FULL_RETRY_SECONDS = 1.0
#: The signals whose after-hooks end a job: what they send is sent until Redis answers.
JOB_ENDS = frozenset({"process_message", "skip_message"})


class RedisBroker(dramatiq_redis.RedisBroker):
    """Dramatiq's Redis broker, with its commands changed for liveness and wake-ups.

    Its commands run ``storage/lua/dispatch.lua``, dramatiq's script changed so that
    only worker processes heartbeat (the :class:`~actors.middleware.Heartbeat`
    middleware, which also finds dead workers) and so that an enqueue wakes an
    idle :class:`~actors.consumer.RedisConsumer`. It also prepares messages
    to be written with their job records (:meth:`prepare`).

    Given the job ``store``, the worker's calls (:meth:`fetch`, :meth:`settle`,
    :meth:`requeue`; see :mod:`actors.consumer` for the steps they make) also
    write the records of the jobs they take and settle. With replicas to
    confirm writes (``confirmation``), a fetch (which reserves its jobs'
    attempts) and a settle (which writes their starts and ends) return once
    they have them (see :mod:`.replication`): what a job went through
    survives a failover. A settle no replica confirmed raises, and is
    sent again (it is idempotent: an ack removes the message once, and an
    end's attempt fences a second write); a fetch or a send no replica
    confirmed goes on: their writes are on the master.

    The fetch reserves each job's next attempt, and drops the message of a
    job that may not run (cancelled, or already succeeded): its script sees
    the record anyway. The job reads "queued" until a thread starts it;
    that start rides the consumer's next batch of acks, so a job still
    costs its worker no round trip of its own, and is refused if another
    worker reserved a newer attempt meanwhile (this one was presumed dead).

    Its ``emit_before`` and ``emit_after`` call only the middleware that
    implement the hook: dramatiq calls every middleware's, most of them the
    base class's no-op, four times a job (its ack's two signals reach none
    of ours).
    """

    def __init__(
        self,
        *,
        store: JobStore | None = None,
        confirmation: replication.Confirmation = replication.NO_CONFIRMATION,
        instance_name: str = "",
        **kwargs,
    ):
        #: Per hook name, the middleware that implement it and their hook.
        self._hooks: dict[str, list[tuple[Middleware, Callable[..., Any]]]] = {}
        #: The consumers of this process, whose messages the heartbeat checks.
        self._consumers: weakref.WeakSet[RedisConsumer] = weakref.WeakSet()
        #: What the consumers of a worker share (see actors.dispatch), once one boots.
        self.room: Room | None = None
        #: Whether this thread runs the middleware's hooks of a job's end (``job``).
        self._ending = threading.local()
        #: Per queue, the numbers of this process's fetches of it.
        self._fetch_numbers: dict[str, FetchNumbers] = {}
        #: Called before every settle: what must be written before the jobs'
        #: records say they started or ended (the metrics' counts of them).
        #: One that fails is logged, and stops no settle.
        self.before_settle: list[Callable[[], None]] = []
        super().__init__(**kwargs)
        self.keys = Keys(
            store.keys.namespace if store else Keys.namespace, broker_namespace=self.namespace
        )
        self.store = store
        self.confirmation = confirmation
        #: This process, as the records of the jobs it takes and runs, its log
        #: lines and the dashboard name it: the stack's name for it ("worker.1",
        #: else the host's) and its pid.
        self.worker_name = f"{instance_name or socket.gethostname()}:{os.getpid()}"
        self.scripts["dispatch"] = self.client.register_script(source(Dispatch.FILE))
        self.scripts["send"] = self.client.register_script(source(Send.FILE))

    # The worker's calls (see actors.consumer for the steps they make) -------

    def fetch(self, queue_name: str, count: int, *, client: redis.Redis | None = None) -> Fetched:
        """Take up to ``count`` messages off a queue: (message data, attempt reserved) each.

        With a store, the fetch reserves each job's next attempt (0: the job
        has no record to reserve it in, or the message is delayed) and drops
        the messages of jobs that may not run. A fetch that leaves messages
        passes an enqueue's wake-up token on to another consumer; one that
        leaves none takes the token away, and says so. Fetches of a queue
        are numbered, so that the messages of one whose reply was lost go
        back to the queue (see :mod:`.fetch_numbers`). ``client``: the
        client to call Redis with (the broker's, unless given).
        """
        numbers = self._fetch_numbers.get(queue_name) or self._fetch_numbers.setdefault(
            queue_name, FetchNumbers()
        )
        with numbers.next() as numbered:
            args = Dispatch.fetch(count, numbered, self._writes, STARTABLE_STATES, self.worker_name)
            return Dispatch.fetched(self._run_dispatch("fetch", queue_name, args, client))

    def settle(
        self,
        queue_name: str,
        settlements: Sequence[Settlement],
        *,
        client: redis.Redis | None = None,
    ) -> dict[str, int]:
        """Write the starts, and ack or nack the messages, with their jobs' ends, in one call.

        Returns, by Redis message id, the starts refused, each with the
        job's latest attempt: another worker's when it is not the one this
        start is of. It is safe to send twice: an ack removes its message
        once, and an end's attempt fences a second write.
        """
        for before in self.before_settle:
            try:
                before()
            except Exception:
                # As a middleware's hook that fails: logged, and the jobs'
                # starts and ends are written all the same.
                self.logger.critical(
                    "Unexpected failure in %r before a settle.", before, exc_info=True
                )
        args = [
            arg
            for s in settlements
            for arg in Dispatch.settlement(
                self._writes, s.kind, s.redis_message_id, s.job_id, s.write
            )
        ]
        return Dispatch.refused(self._run_dispatch("settle", queue_name, args, client))

    def own_client(self) -> redis.Redis:
        """A client of the broker's Redis that keeps one connection of its pool to itself.

        For a thread that calls Redis for every job (a consumer's fetches, its
        settles): a command on the broker's client takes a connection from
        the pool and gives it back, which costs redis-py more than the rest
        of the call. Its connection goes back to the pool with the client.
        """
        return type(self.client)(
            connection_pool=self.client.connection_pool, single_connection_client=True
        )

    def requeue(self, queue_name: str, messages: Sequence[tuple[str, int]]) -> None:
        """Hand messages, given as (Redis id, attempt reserved), back to the front of their queue.

        Each attempt reserved is given back, unless a newer one was reserved since.
        """
        self._run_dispatch("requeue", queue_name, Dispatch.requeue(self._writes, messages))

    @property
    def _writes(self) -> JobWrites | None:
        """How the store writes a job, for the calls that write one (None: no records)."""
        return self.store.writes if self.store is not None else None

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> RedisConsumer:
        consumer = super().consume(queue_name, prefetch, timeout)
        self._consumers.add(consumer)
        return consumer

    def holdings(self) -> list[Holding]:
        """What each of this process's consumers holds."""
        return [consumer.holding() for consumer in list(self._consumers)]

    def last_answered_fetch(self, queue_name: str) -> int:
        """The number of this process's last fetch of a queue whose reply it read (0: none)."""
        numbers = self._fetch_numbers.get(queue_name)
        return numbers.answered if numbers is not None else 0

    @property
    def consumer_class(self):
        return RedisConsumer

    def add_middleware(self, middleware: Middleware, **kwargs: Any) -> None:
        super().add_middleware(middleware, **kwargs)
        self._hooks.clear()

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        # As dramatiq's: a MiddlewareError (SkipMessage) stops the message,
        # any other error of a middleware is logged and the rest go on.
        for middleware, hook in self._implementing("before_" + signal):
            try:
                hook(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self._hook_failed("before_" + signal, middleware)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        ending = signal in JOB_ENDS
        if ending:
            self._ending.job = True
        try:
            for middleware, hook in reversed(self._implementing("after_" + signal)):
                try:
                    hook(self, *args, **kwargs)
                except Exception:
                    self._hook_failed("after_" + signal, middleware)
        finally:
            if ending:
                self._ending.job = False

    def _implementing(self, name: str) -> list[tuple[Middleware, Callable[..., Any]]]:
        """The middleware whose ``name`` hook is not the base class's no-op, in order."""
        hooks = self._hooks.get(name)
        if hooks is None:
            no_op = getattr(Middleware, name, None)
            hooks = self._hooks[name] = [
                (middleware, getattr(middleware, name))
                for middleware in self.middleware
                if no_op is None
                or getattr(type(middleware), name, None) is not no_op
                or name in getattr(middleware, "__dict__", ())
            ]
        return hooks

    def _hook_failed(self, name: str, middleware: Middleware) -> None:
        self.logger.critical("Unexpected failure in %s of %r.", name, middleware, exc_info=True)

    def prepare(
        self,
        actor: dramatiq.Actor,
        *,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: dict[str, Any],
        delay: int | None = None,
        message_id: str | None = None,
        redis_message_id: str | None = None,
    ) -> BrokerMessage:
        """A message to ``actor`` and what ``enqueue`` would write of it, without writing it.

        What ``actor.message_with_options`` and dramatiq's ``enqueue`` do,
        in one message built once: it gets a Redis id of its own, goes to the
        delay queue with an eta when delayed, and passes the middleware's
        ``before_enqueue``; the caller writes it together with its job record
        (``JobStore.create_many``), so that a submission is one round trip,
        and calls :meth:`enqueued` once it was. ``message_id`` sends a job
        again under its id; ``redis_message_id``, made anew unless given, is
        where the broker keeps this message.
        """
        queue_name, redis_message_id = actor.queue_name, redis_message_id or str(uuid4())
        options = dict(options, redis_message_id=redis_message_id)
        if delay is not None:
            queue_name = dq_name(queue_name)
            options.update(eta=current_millis() + delay)
        message = dramatiq.Message(
            queue_name=queue_name,
            actor_name=actor.actor_name,
            args=args,
            kwargs=kwargs,
            options=options,
            **({} if message_id is None else {"message_id": message_id}),
        )
        self.emit_before("enqueue", message, delay)
        return BrokerMessage(
            message, delay, self.keys.queue(queue_name), redis_message_id, encode(message)
        )

    def enqueued(self, sent: BrokerMessage) -> None:
        """Tell the middleware's ``after_enqueue`` that a prepared message was written."""
        self.emit_after("enqueue", sent.message, sent.delay)

    def do_enqueue(self, queue_name: str, redis_message_id: str, data: bytes) -> None:
        """Put a message on its queue, as dramatiq's ``enqueue`` does, and record its job.

        Every message sent the plain dramatiq way comes here (``actor.send()``,
        a pipeline's next step, a group's messages, a retry, a delayed message
        come due): a job without a record gets one in the same script call
        (``storage/lua/send.lua``), so that every job that runs is listed with its
        state from the start. Submissions write theirs with ``storage/lua/create.lua``.
        """
        try:
            message = dramatiq.Message.decode(data) if self.store is not None else None
        except DecodeError:
            message = None  # bytes that are no message: no job to record, none will run
        if message is None:
            self._run_dispatch("enqueue", queue_name, Dispatch.enqueue(redis_message_id, data))
            return
        record = lifecycle.sent(message)
        consumer, due = _come_due(message)
        queue_key = self.keys.queue(queue_name)
        waited = unanswered = False
        while True:
            call = Send.call(
                self.store.writes, queue_key, redis_message_id, data, record, due, unanswered
            )
            try:
                sent = Send.sent(
                    replication.run(
                        self.scripts["send"],
                        keys=call.keys,
                        args=call.args,
                        confirmation=self.confirmation,
                    )
                )
                if consumer and due:
                    # Sent again after a call with no answer, it was moved by that call.
                    consumer.moved(due, sent or unanswered)
                return
            except replication.NotReplicated as error:
                # The message is on the master. Raising would fail the job that
                # sent it (a retry, a pipeline's next step) and send it twice;
                # the job's ack, confirmed in its turn, confirms this write too:
                # replicas apply the master's writes in order.
                self.logger.warning("Sent to %r: %s.", queue_name, error)
                if consumer and due:
                    consumer.moved(due, True)
                return
            except (
                redis.exceptions.OutOfMemoryError,
                redis.ConnectionError,
                redis.TimeoutError,
            ) as error:
                # A delayed message come due, or what a job's end sends (a
                # retry, a pipeline's next step, a callback), while Redis is
                # full, away or frozen: given up, the one would be dropped
                # with its consumer thread's delay queue and left in this
                # worker's acks, the other lost with the job acked as retried.
                # The thread sends it until Redis takes it: a call with no
                # answer that ran sent it, and the next sends nothing
                # (send.lua). Anything else (a job's own send) fails as
                # dramatiq's would, and the job's retry waits here.
                if due is None and not getattr(self._ending, "job", False):
                    raise
                unanswered = unanswered or not isinstance(error, redis.exceptions.OutOfMemoryError)
                if not waited:
                    waited = True
                    self.logger.warning("Message %s waits to be sent: %s", record.id, error)
                time.sleep(FULL_RETRY_SECONDS)

    def _dispatch(self, command: str) -> Callable[..., Any]:
        # dramatiq's own: what its __getattr__ gives for do_<command> (do_purge, do_qsize).
        return lambda queue_name, *args: self._run_dispatch(command, queue_name, args)

    def _run_dispatch(
        self,
        command: str,
        queue_name: str,
        args: Sequence[str | bytes | int],
        client: redis.Redis | None = None,
    ) -> Any:
        """Run ``command`` of ``storage/lua/dispatch.lua`` on a queue, as dramatiq does."""
        call = Dispatch.call(
            self.keys,
            command,
            queue_name,
            now=current_millis(),
            worker_id=self.broker_id,
            heartbeat_timeout=self.heartbeat_timeout,
            dead_message_ttl=self.dead_message_ttl,
            # Dead workers are the Heartbeat middleware's, on every beat;
            # maintenance runs only where maintenance_chance asks for it.
            maintenance=self._should_do_maintenance(command),
            max_unpack_size=self._max_unpack_size(),
            args=args,
        )
        dispatch = self.scripts["dispatch"]
        if command not in CONFIRMED_COMMANDS:
            return dispatch(keys=call.keys, args=call.args, client=client)
        try:
            return replication.run(
                dispatch,
                keys=call.keys,
                args=call.args,
                confirmation=self.confirmation,
                client=client,
            )
        except replication.NotReplicated as error:
            if command != "fetch":
                raise
            self.logger.warning("Fetched from %r: %s.", queue_name, error)
            return error.reply


#: The broker's commands that wait for replicas: those that write a job's start or end.
CONFIRMED_COMMANDS = frozenset({"fetch", "settle"})


@dataclass(frozen=True)
class QueueConfig:
    """What the broker and the store need to know, passed in by whoever builds them."""

    redis: connection.RedisConfig
    job_retention_seconds: int
    default_max_retries: int
    default_min_backoff_ms: int
    default_time_limit_ms: int
    heartbeat_timeout_ms: int
    #: The modules whose ``@job`` functions become actors.
    job_modules: tuple[str, ...] = ("actors.jobs",)
    #: What this process is called (the local stack's "worker.1"); empty: the host's name.
    instance_name: str = ""


@dataclass(frozen=True)
class Queue:
    broker: RedisBroker
    store: JobStore
    actors: dict[str, dramatiq.Actor]
    specs: dict[str, JobSpec]
    #: What applies to a job that sets neither in its request nor its declaration.
    defaults: JobDefaults


def declared_jobs(modules: tuple[str, ...]) -> dict[str, JobSpec]:
    """Import the job modules and return the jobs they declare, by name."""
    for module in modules:
        importlib.import_module(module)
    return {name: spec for name, spec in specs().items() if spec.fn.__module__ in modules}


def encode(message: dramatiq.Message) -> bytes:
    """``message.encode()``: the same bytes, made faster with dramatiq's JSON encoder.

    That encoder makes a JSON encoder anew for each message (``json.dumps``
    with separators does) and lists the message's fields one by one; a batch
    encodes a message a job. With another encoder set, it encodes.
    """
    if type(dramatiq.get_encoder()) is not JSONEncoder:
        return message.encode()
    # A dataclass instance's attributes are its fields, in their order.
    return compact_json(vars(message)).encode()


def connect(config: QueueConfig) -> Queue:
    """Build the broker with every job of ``config.job_modules`` declared on it, and the store."""
    client = connection.client(config.redis)
    confirmation = config.redis.write_confirmation
    defaults = JobDefaults(
        max_retries=config.default_max_retries, time_limit_ms=config.default_time_limit_ms
    )
    store = JobStore(
        client, retention_seconds=config.job_retention_seconds, confirmation=confirmation
    )
    broker = RedisBroker(
        store=store,
        confirmation=confirmation,
        instance_name=config.instance_name,
        client=client,
        heartbeat_timeout=config.heartbeat_timeout_ms,
        # Dead workers are found by the Heartbeat middleware, on every beat.
        maintenance_chance=0,
        middleware=broker_middleware(
            store,
            time_limit_ms=defaults.time_limit_ms,
            max_retries=defaults.max_retries,
            min_backoff_ms=config.default_min_backoff_ms,
        ),
    )
    jobs = declared_jobs(config.job_modules)
    queue = Queue(
        broker=broker, store=store, actors=bind(broker, jobs), specs=jobs, defaults=defaults
    )
    attach(queue)
    return queue


def _come_due(message: dramatiq.Message) -> tuple[RedisConsumer | None, ComeDue | None]:
    """The delay queue's consumer and the delayed message that sending ``message`` moves, if any.

    dramatiq's consumer thread of a delay queue sends only the messages that
    come due in it.
    """
    thread = threading.current_thread()
    consumer = thread.consumer if isinstance(thread, ConsumerThread) else None
    if not isinstance(consumer, RedisConsumer):
        return None, None
    due = consumer.coming_due(message.message_id)
    return (consumer, due) if due else (None, None)
