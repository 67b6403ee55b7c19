"""What dramatiq promises of a Redis broker, kept by ours: no ack dropped, dead letters expire."""

from __future__ import annotations

import threading

import dramatiq
import redis
from dramatiq.errors import BrokerConnectionError

from actors import batch_sender, lifecycle
from actors import consumer as consumer_module
from actors.middleware import Heartbeat
from actors.record import JobRecord
from actors.states import State
from tests.support import ended, run_job, wait_for


def test_an_end_refused_by_a_full_redis_is_written_with_its_ack_once_redis_has_room(
    queue, monkeypatch
):
    monkeypatch.setattr(batch_sender, "RETRY_SECONDS", 0.05)
    job_id = run_job(queue, "add", a=1, b=2)
    client = queue.broker.client
    consumer = queue.broker.consume("default", prefetch=1, timeout=100)
    message = next(consumer)
    redis_id, attempt = message.options["redis_message_id"], message.attempt
    queue.store.write(job_id, lifecycle.start(attempt.number))
    attempt.ending = lifecycle.finish(
        result=3, exception=None, retried=False, permanent=False, attempt=attempt.number
    )
    maxmemory = client.config_get("maxmemory")["maxmemory"]
    client.config_set("maxmemory", 1)
    try:
        consumer.ack(message)
        # Redis refuses every write (OOM): the ack and its end wait, they are not dropped.
        wait_for(lambda: _oom_errors(client) >= 2, what="the ack to be refused twice")
        assert client.sismember(f"dramatiq:__acks__.{queue.broker.broker_id}.default", redis_id)
        assert consumer.outstanding_message_count == 1
    finally:
        client.config_set("maxmemory", maxmemory)
    wait_for(lambda: consumer.outstanding_message_count == 0, what="the ack to be written")
    consumer.close()
    assert not client.hexists("dramatiq:default.msgs", redis_id)
    record = queue.store.get(job_id)
    assert (record.state, record.result) == (State.SUCCEEDED, 3)


def _oom_errors(client: redis.Redis) -> int:
    return client.info("errorstats").get("errorstat_OOM", {}).get("count", 0)


def test_an_end_is_written_after_its_ack_failed_with_a_broker_connection_error(queue, monkeypatch):
    monkeypatch.setattr(batch_sender, "RETRY_SECONDS", 0.05)
    broker = queue.broker
    settle, failures = broker.settle, []

    def settle_failing_once(*args, **kwargs):
        if not failures:
            failures.append(args)
            raise BrokerConnectionError("connection lost")
        return settle(*args, **kwargs)

    # As dramatiq's own test_redis_consumer_ack_can_retry_on_connection_error does.
    monkeypatch.setattr(broker, "settle", settle_failing_once)
    record = added_by_a_worker(queue)
    assert failures
    assert (record.state, record.result) == (State.SUCCEEDED, 3)
    assert not broker.client.hlen("dramatiq:default.msgs")


def test_a_job_ends_though_what_runs_before_its_settle_fails(queue, monkeypatch):
    broker = queue.broker

    def failing() -> None:
        raise OSError("no space left for the metrics file")

    monkeypatch.setattr(broker, "before_settle", [failing, *broker.before_settle])
    record = added_by_a_worker(queue)
    assert (record.state, record.result) == (State.SUCCEEDED, 3)
    assert not broker.client.hlen("dramatiq:default.msgs")


def test_a_backlog_of_settlements_goes_in_bounded_calls_each_settled_once(queue, monkeypatch):
    broker, cap = queue.broker, consumer_module.MAX_SETTLEMENTS_PER_CALL
    job_ids = [run_job(queue, "add", a=n, b=1) for n in range(2 * cap)]
    settle, calls, first_call, go_on = broker.settle, [], threading.Event(), threading.Event()

    def settle_held_at_first(queue_name, settlements, **kwargs):
        calls.append([(s.kind, s.redis_message_id) for s in settlements])
        first_call.set()
        go_on.wait(10)
        return settle(queue_name, settlements, **kwargs)

    monkeypatch.setattr(broker, "settle", settle_held_at_first)
    consumer = broker.consume("default", prefetch=len(job_ids), timeout=100)
    messages = [next(consumer) for _ in job_ids]
    for number, message in enumerate(messages):
        attempt = message.attempt
        consumer.start(message, lifecycle.start(attempt.number))
        if number == 0:
            # The first call is under way while every other start and ack is handed in.
            first_call.wait(10)
        attempt.ending = lifecycle.finish(
            result=number + 1,
            exception=None,
            retried=False,
            permanent=False,
            attempt=attempt.number,
        )
        consumer.ack(message)
    go_on.set()
    wait_for(lambda: consumer.outstanding_message_count == 0, what="every ack to be sent")
    consumer.close()
    sent = [settlement for call in calls for settlement in call]
    assert max(len(call) for call in calls) == cap
    assert sorted(sent) == sorted(
        (kind, m.options["redis_message_id"]) for m in messages for kind in ("start", "ack")
    )
    for number, job_id in enumerate(job_ids):
        record = queue.store.get(job_id)
        assert (record.state, record.result, record.attempts) == (State.SUCCEEDED, number + 1, 1)
    assert not broker.client.hlen("dramatiq:default.msgs")
    assert not broker.client.scard(f"dramatiq:__acks__.{broker.broker_id}.default")


def added_by_a_worker(queue) -> JobRecord:
    """The record, once it ended, of a job adding 1 and 2 that a worker of one thread ran."""
    job_id = run_job(queue, "add", a=1, b=2)
    worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        return ended(queue, job_id)
    finally:
        worker.stop()


def test_dead_letters_expire_on_every_queue_that_has_them(queue):
    broker, client = queue.broker, queue.broker.client
    # A queue no running worker declares, whose letter died long ago.
    orphan = dramatiq.Message(
        queue_name="elsewhere", actor_name="gone", args=(), kwargs={}, options={}
    )
    broker.declare_queue("elsewhere")
    broker.enqueue(orphan)
    consumer = broker.consume("elsewhere", prefetch=1, timeout=100)
    consumer.nack(next(consumer))
    consumer.close()
    assert client.zcard("dramatiq:elsewhere.XQ") == 1

    # Another worker's beat, which declared other queues only, expires it.
    Heartbeat().beat(type(broker)(client=client, dead_message_ttl=0, middleware=[]))
    assert client.zcard("dramatiq:elsewhere.XQ") == 0
    assert not client.hlen("dramatiq:elsewhere.XQ.msgs")


def test_a_stopped_worker_gives_the_connections_it_kept_back_to_the_pool(queue):
    pool = queue.broker.client.connection_pool
    worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        ended(queue, run_job(queue, "add", a=1, b=2))
    finally:
        worker.stop()
    # The worker is still referenced (as a supervisor holding it would): its
    # consumers' fetching and settling connections are the pool's again, and
    # its cancellation listener's once that notices the stop.
    wait_for(lambda: not pool._in_use_connections, what="the connections back in the pool")


def test_a_settle_redis_answered_and_then_lost_is_sent_again_when_the_next_call_fails(
    queue, monkeypatch
):
    """Redis killed before it wrote an answered settle to its file restarts without it.

    The call the worker makes next fails (the connection went with Redis):
    the settles answered just before are sent again, and their jobs end.
    """
    monkeypatch.setattr(batch_sender, "RETRY_SECONDS", 0.05)
    broker, client = queue.broker, queue.broker.client
    acks = f"dramatiq:__acks__.{broker.broker_id}.default"
    job_ids = [run_job(queue, "add", a=n, b=1) for n in range(2)]
    consumer = broker.consume("default", prefetch=2, timeout=100)
    lost, failed = next(consumer), next(consumer)
    lost_id = lost.options["redis_message_id"]
    job_key = queue.store.keys.job(job_ids[0])
    before = client.dump(job_key), client.hget("dramatiq:default.msgs", lost_id)
    settle_ended(consumer, lost, result=1)
    wait_for(lambda: not client.sismember(acks, lost_id), what="the first settle")
    # Redis restarted from a file without it.
    client.restore(job_key, 0, before[0], replace=True)
    client.hset("dramatiq:default.msgs", lost_id, before[1])
    client.sadd(acks, lost_id)
    settle, failures = broker.settle, []

    def settle_failing_once(*args, **kwargs):
        if not failures:
            failures.append(args)
            raise redis.ConnectionError("Connection closed by server.")
        return settle(*args, **kwargs)

    monkeypatch.setattr(broker, "settle", settle_failing_once)
    settle_ended(consumer, failed, result=2)
    wait_for(lambda: consumer.outstanding_message_count == 0, what="every ack to be sent")
    consumer.close()

    assert failures
    records = [queue.store.get(job_id) for job_id in job_ids]
    assert [(r.state, r.result, r.attempts) for r in records] == [
        (State.SUCCEEDED, 1, 1),
        (State.SUCCEEDED, 2, 1),
    ]
    assert not client.hlen("dramatiq:default.msgs")
    assert not client.scard(acks)


def settle_ended(consumer, message, *, result: int) -> None:
    """Hand the start, and the ack with the end, of a run of ``message`` to ``consumer``."""
    attempt = message.attempt
    consumer.start(message, lifecycle.start(attempt.number))
    attempt.ending = lifecycle.finish(
        result=result, exception=None, retried=False, permanent=False, attempt=attempt.number
    )
    consumer.ack(message)
