"""Who counts as a worker, how a dead one's jobs come back, and how an idle one is woken."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue as queues
import signal
import threading
import time
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers import redis as dramatiq_redis
from dramatiq.worker import ConsumerThread

import actors
from actors import consumer
from actors.job_request import JobOptions, JobRequest
from actors.middleware import Heartbeat
from actors.states import State
from actors.submission import submit
from tests.support import run_job, wait_for, worker_process


@contextlib.contextmanager
def running_worker(queue, *, threads: int = 1) -> Iterator[dramatiq.Worker]:
    """An in-process dramatiq worker on ``queue``'s broker, stopped on exit."""
    worker = dramatiq.Worker(queue.broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def heartbeats(queue) -> list[str]:
    client = queue.broker.client
    return [
        member.decode()
        for member in client.zrange(f"{queue.broker.namespace}:__heartbeats__", 0, -1)
    ]


def state(queue, job_id: str) -> State:
    return queue.store.get(job_id).state


def test_a_process_that_only_enqueues_is_not_listed_as_a_worker(queue):
    submit(queue, JobRequest(actor="add", args=[1, 2]))
    assert heartbeats(queue) == []

    with running_worker(queue):
        assert heartbeats(queue) == [queue.broker.broker_id]
    # A worker that stops takes itself off the list at once.
    assert heartbeats(queue) == []


def test_a_worker_busy_with_jobs_longer_than_the_heartbeat_timeout_is_never_presumed_dead(
    settings,
):
    settings = dataclasses.replace(settings, heartbeat_timeout_ms=1000)
    busy, watcher = actors.connect(settings.queue_config()), actors.connect(settings.queue_config())
    _, job = submit(busy, JobRequest(actor="count_slowly", kwargs={"to": 6, "interval": 0.5}))

    # The busy worker's only thread runs the job for three heartbeat timeouts,
    # while another worker looks for dead workers on every beat.
    with running_worker(busy), running_worker(watcher):
        wait_for(lambda: state(busy, job.id) == State.SUCCEEDED, timeout=30)
        assert busy.broker.broker_id in heartbeats(busy)

    # Started once: each start counts an attempt.
    assert busy.store.get(job.id).attempts == 1


def test_an_idle_consumer_waits_for_an_enqueue_instead_of_polling(queue):
    consumer = queue.broker.consume("default", prefetch=1, timeout=60_000)
    woken = threading.Thread(target=next, args=(consumer,))
    woken.start()
    time.sleep(0.3)
    # A polling consumer would have come back from its empty fetch by now.
    assert woken.is_alive()

    _, job = submit(queue, JobRequest(actor="add", args=[2, 3]))
    # Long before its one-minute timeout.
    woken.join(10)
    assert not woken.is_alive()
    assert next(consumer).message_id == job.id


def test_a_job_sent_to_an_idle_worker_costs_it_one_fetch_and_one_wait(queue, monkeypatch):
    """Jobs sent one at a time, each to an idle worker: no fetch of nothing between them."""
    broker, client = queue.broker, queue.broker.client
    fetches = 0
    fetch = broker.fetch

    def counted(*args, **kwargs):
        nonlocal fetches
        fetches += 1
        return fetch(*args, **kwargs)

    monkeypatch.setattr(broker, "fetch", counted)
    # Its consumers wait for an enqueue longer than the test lasts: every
    # fetch counted is one a job caused, none a poll at the end of a wait.
    consume = broker.consume
    monkeypatch.setattr(
        broker,
        "consume",
        lambda queue_name, prefetch, timeout: consume(queue_name, prefetch, 60_000),
    )
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:

        def idle() -> bool:
            # Every consumer blocks on its queue's wake-up list.
            return client.info("clients")["blocked_clients"] == len(worker.consumers)

        wait_for(idle, what="the worker's first wait")
        before = fetches
        jobs = 20
        for n in range(jobs):
            job = run_job(queue, "add", a=n, b=1)
            wait_for(lambda: queue.store.get(job).ended, what=f"job {n} to end")  # noqa: B023
            wait_for(idle, what=f"the worker to wait again after job {n}")
        fetched = fetches - before
    finally:
        worker.stop()
    # Before the fetch that empties a queue took its token away, each job
    # cost a second fetch, of nothing, before the wait.
    assert fetched == jobs


def test_a_fetch_leaves_the_wake_up_token_while_messages_wait_and_takes_it_with_the_last(queue):
    broker, client = queue.broker, queue.broker.client
    for n in range(3):
        run_job(queue, "add", a=n, b=1)
    token = broker.keys.wake("default")

    some = broker.fetch("default", 2)
    assert (len(some.messages), some.emptied, client.llen(token)) == (2, False, 1)

    rest = broker.fetch("default", 2)
    # No message waits: a token left would wake a consumer to fetch nothing.
    assert (len(rest.messages), rest.emptied, client.llen(token)) == (1, True, 0)


def taking_one(consumer) -> tuple[threading.Thread, list[str]]:
    """A thread taking the next message off ``consumer``, and the list its id is put in."""
    taken: list[str] = []

    def take():
        while not taken:
            message = next(consumer)
            if message is not None:
                taken.append(message.message_id)

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    return taker, taken


def test_a_job_sent_after_the_fetch_that_emptied_the_queue_is_taken_at_once(queue):
    consumer = queue.broker.consume("default", prefetch=2, timeout=60_000)
    first = run_job(queue, "add", a=1, b=1)
    assert next(consumer).message_id == first
    # Its fetch left the queue empty and took the wake-up token away; this
    # job comes before the consumer waits for one.
    second = run_job(queue, "add", a=2, b=1)
    taker, taken = taking_one(consumer)
    # Long before its one-minute timeout.
    taker.join(10)
    assert taken == [second]


def unblock_waits(client) -> None:
    """End every wait on a wake-up list now, as its timeout would (the waiter looks again)."""
    for listed in client.client_list():
        if listed["cmd"] == "blpop":
            client.client_unblock(listed["id"])


def stop_now(worker: dramatiq.Worker, client) -> None:
    """Stop a worker whose consumers wait longer than the test lasts."""
    stopping = threading.Thread(target=worker.stop)
    stopping.start()
    while stopping.is_alive():
        if not any(thread.running for thread in worker.consumers.values()):
            unblock_waits(client)
        stopping.join(0.1)


@pytest.mark.parametrize("held_back", ["paused", "stopping"])
def test_a_job_sent_as_a_worker_is_held_back_is_taken_at_once_by_another(
    settings, queue, monkeypatch, held_back
):
    """The held-back worker's wait takes the job's wake-up token, and passes it on."""
    client = queue.broker.client
    first, other = queue, actors.connect(settings.queue_config())
    # Each wait, and each worker's, lasts longer than the test: the job is
    # taken by a wake-up token passed on, never by a poll.
    monkeypatch.setattr(consumer, "MAX_BLOCK_SECONDS", 60.0)
    for broker in (first.broker, other.broker):
        consume = broker.consume
        monkeypatch.setattr(
            broker,
            "consume",
            lambda queue_name, prefetch, timeout, consume=consume: consume(
                queue_name, prefetch, 60_000
            ),
        )
    held = dramatiq.Worker(first.broker, worker_threads=1, worker_timeout=100)
    taker = dramatiq.Worker(other.broker, worker_threads=1, worker_timeout=100)

    def waiting(*workers: dramatiq.Worker) -> bool:
        count = sum(len(worker.consumers) for worker in workers)
        return client.info("clients")["blocked_clients"] == count

    held.start()
    try:
        wait_for(lambda: waiting(held), what="the first worker to wait")
        # Its wait came first: the next wake-up token is its.
        taker.start()
        wait_for(lambda: waiting(held, taker), what="the other worker to wait")
        # Daemon: a pause waits for threads that the stop at the end ends unpaused.
        holding_back = threading.Thread(
            target=held.pause if held_back == "paused" else held.stop, daemon=True
        )
        holding_back.start()
        wait_for(
            lambda: all(thread.paused or not thread.running for thread in held.consumers.values()),
            what=f"the first worker's consumers to be {held_back}",
        )

        job = run_job(queue, "add", a=1, b=2)

        wait_for(lambda: queue.store.get(job).ended, what="the job to be taken by the other worker")
    finally:
        stop_now(taker, client)
        stop_now(held, client)
        holding_back.join(10)


def test_a_consumer_closed_holding_a_wake_up_token_passes_it_on(queue):
    """A consumer woken, then closed (its thread paused or stopped) before it fetched."""
    broker, client = queue.broker, queue.broker.client
    closing = broker.consume("default", prefetch=1, timeout=60_000)
    woken = threading.Thread(target=next, args=(closing,))
    woken.start()
    wait_for(lambda: client.info("clients")["blocked_clients"] == 1, what="its wait")
    # Another consumer waits after it: the next wake-up token is the first's.
    taking = broker.consume("default", prefetch=1, timeout=60_000)
    taker, taken = taking_one(taking)
    wait_for(lambda: client.info("clients")["blocked_clients"] == 2, what="the other's wait")

    job = run_job(queue, "add", a=1, b=2)
    woken.join(10)
    closing.close()

    # Long before its one-minute timeout.
    taker.join(10)
    assert taken == [job]


def test_a_delayed_job_is_handed_on_when_due_however_long_the_worker_timeout(queue):
    work: queues.PriorityQueue = queues.PriorityQueue()
    delayed = ConsumerThread(
        broker=queue.broker,
        queue_name="default.DQ",
        prefetch=10,
        work_queue=work,
        worker_timeout=60_000,
    )
    delayed.start()
    try:
        _, job = submit(queue, JobRequest(actor="add", args=[2, 3], options=JobOptions(delay=1)))
        # Due in a second: moved to its queue then, not when the minute is up.
        wait_for(
            lambda: queue.broker.client.llen("dramatiq:default"),
            timeout=10,
            what="the delayed message to reach its queue",
        )
    finally:
        delayed.stop()
        delayed.join(5)
    assert not delayed.is_alive(), "a stopping consumer should notice within a second"
    assert queue.store.get(job.id).eta <= time.time() * 1000


@contextlib.contextmanager
def delay_queue_consumer(queue) -> Iterator[ConsumerThread]:
    """dramatiq's consumer thread of the default queue's delay queue, as a worker runs it."""
    delayed = ConsumerThread(
        broker=queue.broker,
        queue_name="default.DQ",
        prefetch=10,
        work_queue=queues.PriorityQueue(),
        worker_timeout=100,
    )
    delayed.start()
    try:
        yield delayed
    finally:
        delayed.stop()
        delayed.join(5)


def test_a_delayed_message_come_due_is_never_on_its_queue_and_its_delay_queue_at_once(queue):
    client, acks = queue.broker.client, f"dramatiq:__acks__.{queue.broker.broker_id}.default.DQ"
    with delay_queue_consumer(queue):
        submit(queue, JobRequest(actor="add", args=[2, 3], options=JobOptions(delay=0.5)))
        wait_for(lambda: client.scard(acks), timeout=10, what="the delay queue's fetch")
        # Snapshots taken as fast as Redis answers, each in one transaction.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            on_queue, held, kept = (
                client.pipeline()
                .llen("dramatiq:default")
                .scard(acks)
                .hlen("dramatiq:default.DQ.msgs")
                .execute()
            )
            if on_queue:
                break
        else:
            pytest.fail("the delayed message never reached its queue")
    # dramatiq's join and qsize would count it twice, and a worker killed
    # in between would leave it to be sent again.
    assert (on_queue, held, kept) == (1, 0, 0)


def test_a_delayed_message_handed_to_another_worker_is_not_sent_by_the_one_that_held_it(queue):
    client, acks = queue.broker.client, f"dramatiq:__acks__.{queue.broker.broker_id}.default.DQ"
    with delay_queue_consumer(queue):
        _, job = submit(queue, JobRequest(actor="add", args=[2, 3], options=JobOptions(delay=1)))
        wait_for(lambda: client.scard(acks), timeout=10, what="the delay queue's fetch")
        # This worker was presumed dead: its delayed message went back to the
        # delay queue and another worker holds it now.
        (redis_id,) = client.smembers(acks)
        client.smove(acks, "dramatiq:__acks__.another-worker.default.DQ", redis_id)
        time.sleep(2)  # past its time
        assert client.llen("dramatiq:default") == 0
    # Still the other worker's to send.
    assert client.sismember("dramatiq:__acks__.another-worker.default.DQ", redis_id)
    assert client.hexists("dramatiq:default.DQ.msgs", redis_id)
    assert queue.store.get(job.id).state == State.DELAYED


def test_a_dead_workers_messages_go_back_to_the_front_of_their_queue(queue):
    broker, client = queue.broker, queue.broker.client
    ns = broker.namespace
    for message_id in ("waiting-1", "waiting-2", "held-1", "held-2"):
        client.hset(f"{ns}:default.msgs", message_id, b"{}")
    client.rpush(f"{ns}:default", "waiting-1", "waiting-2")
    # What a worker that fetched two messages and then died leaves behind.
    client.sadd(f"{ns}:__acks__.dead-worker.default", "held-1", "held-2")
    client.sadd(f"{ns}:__ackqueues__.dead-worker", "default")
    client.zadd(f"{ns}:__heartbeats__", {"dead-worker": 1})

    Heartbeat().beat(broker)

    queued = [item.decode() for item in client.lrange(f"{ns}:default", 0, -1)]
    assert sorted(queued[:2]) == ["held-1", "held-2"]
    assert queued[2:] == ["waiting-1", "waiting-2"]
    assert heartbeats(queue) == [broker.broker_id]
    assert not client.exists(f"{ns}:__acks__.dead-worker.default")
    # An idle consumer is woken for them.
    assert client.llen(f"{ns}:default.wake") == 1


def test_dramatiqs_maintenance_hands_back_a_dead_workers_messages_with_any_command(queue):
    broker, client = queue.broker, queue.broker.client
    ns = broker.namespace
    client.hset(f"{ns}:default.msgs", "held", b"{}")
    client.sadd(f"{ns}:__acks__.dead-worker.default", "held")
    client.sadd(f"{ns}:__ackqueues__.dead-worker", "default")
    client.zadd(f"{ns}:__heartbeats__", {"dead-worker": 1})
    # Asked for on every command, as dramatiq's maintenance_chance may be.
    broker.maintenance_chance = dramatiq_redis.MAINTENANCE_SCALE

    broker.do_qsize("default")

    assert client.lrange(f"{ns}:default", 0, -1) == [b"held"]
    assert not client.exists(f"{ns}:__acks__.dead-worker.default")
    assert client.llen(f"{ns}:default.wake") == 1


@pytest.mark.timeout(120)
def test_a_killed_workers_running_jobs_start_again_within_seconds(settings, queue):
    """The issue's case: 8 jobs running and 80 waiting when the worker dies."""
    slow = {"to": 10, "interval": 0.5}
    running = [submit(queue, JobRequest(actor="count_slowly", kwargs=slow))[1].id for _ in range(8)]
    waiting = [submit(queue, JobRequest(actor="add", args=[n, n]))[1].id for n in range(80)]

    with worker_process(settings, threads=8) as doomed:
        wait_for(
            lambda: all(state(queue, job_id) == State.RUNNING for job_id in running),
            timeout=30,
            what="the first worker to start the 8 jobs",
        )
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
    killed_at = time.time() * 1000

    with worker_process(settings, threads=8):
        wait_for(
            # Each start counts an attempt.
            lambda: all(queue.store.get(job_id).attempts == 2 for job_id in running),
            # The heartbeat timeout (10 s by default) and a beat or two.
            timeout=settings.heartbeat_timeout_ms / 1000 + 5,
            what="the dead worker's jobs to start again",
        )
        wait_for(
            lambda: all(state(queue, job_id) == State.SUCCEEDED for job_id in waiting),
            timeout=30,
            what="the waiting jobs, the ones the dead worker held included",
        )
    # The record's start is its latest attempt's.
    assert all(queue.store.get(job_id).started_at > killed_at for job_id in running)


def test_a_stopping_worker_hands_back_the_jobs_it_took_but_never_ran(queue):
    jobs = [submit(queue, JobRequest(actor="add", args=[n, n]))[1].id for n in range(3)]
    _, later = submit(queue, JobRequest(actor="add", args=[1, 1], options=JobOptions(delay=60)))
    scheduled = queue.store.get(later.id)
    consumer = queue.broker.consume("default", prefetch=2, timeout=100)
    taken = [next(consumer), next(consumer)]
    delayed = queue.broker.consume("default.DQ", prefetch=1, timeout=100)
    held = next(delayed)
    # Fetching reserved their next attempt, but no thread runs them: they
    # are queued, held by this worker. A delayed message is only held.
    records = [queue.store.get(job_id) for job_id in jobs]
    assert [record.state for record in records] == [State.QUEUED] * 3
    assert [record.attempts for record in records] == [1, 1, 0]
    assert [record.worker_name for record in records] == [queue.broker.worker_name] * 2 + [None]
    assert queue.store.get(later.id) == scheduled

    consumer.requeue(taken)
    delayed.requeue([held])

    records = [queue.store.get(job_id) for job_id in jobs]
    assert [record.state for record in records] == [State.QUEUED] * 3
    assert [record.attempts for record in records] == [0, 0, 0]
    assert [record.worker_name for record in records] == [None, None, None]
    # Back at the front of their queue, in the order they were taken.
    assert queued_job_ids(queue, "default") == jobs
    assert queued_job_ids(queue, "default.DQ") == [later.id]
    assert queue.store.get(later.id) == scheduled
    # The next worker takes them as their first attempt.
    again = queue.broker.consume("default", prefetch=2, timeout=100)
    assert [next(again).message_id for _ in jobs[:2]] == jobs[:2]
    assert [queue.store.get(job_id).attempts for job_id in jobs[:2]] == [1, 1]


def test_a_heartbeat_as_a_stopping_worker_hands_its_jobs_back_counts_no_attempt(queue, monkeypatch):
    broker = queue.broker
    jobs = [submit(queue, JobRequest(actor="add", args=[n, n]))[1].id for n in range(2)]
    consumer = broker.consume("default", prefetch=2, timeout=100)
    taken = [next(consumer), next(consumer)]
    requeue = broker.requeue

    def beat_first(*args, **kwargs):
        # The worker's heartbeat runs just as its stopping consumer hands back.
        Heartbeat().beat(broker)
        return requeue(*args, **kwargs)

    monkeypatch.setattr(broker, "requeue", beat_first)
    consumer.requeue(taken)

    # The attempts their fetch reserved are given back: none of them ran.
    assert [queue.store.get(job_id).attempts for job_id in jobs] == [0, 0]
    assert queued_job_ids(queue, "default") == jobs
    assert acked_by_this_worker(queue) == set()


def queued_job_ids(queue, queue_name: str) -> list[str]:
    """The jobs waiting on a queue, front first."""
    client, key = queue.broker.client, f"{queue.broker.namespace}:{queue_name}"
    return [
        json.loads(client.hget(f"{key}.msgs", redis_id))["message_id"]
        for redis_id in client.lrange(key, 0, -1)
    ]


def acked_by_this_worker(queue) -> set[str]:
    """The Redis ids in this worker's acks of the default queue: what Redis says it holds."""
    broker = queue.broker
    acks = f"{broker.namespace}:__acks__.{broker.broker_id}.default"
    return {redis_id.decode() for redis_id in broker.client.smembers(acks)}


def test_a_message_whose_settling_redis_lost_goes_back_to_its_queue(queue):
    """Redis answered an ack, then was killed before it wrote the ack to its file.

    Restarted, it has the message fetched by this worker, which forgot it:
    the job would stay queued until the worker stops.
    """
    broker, client = queue.broker, queue.broker.client
    messages = f"{broker.namespace}:default.msgs"
    jobs = [submit(queue, JobRequest(actor="add", args=[n, n]))[1].id for n in range(2)]
    consumer = broker.consume("default", prefetch=2, timeout=100)
    settled, held = next(consumer), next(consumer)
    redis_id = settled.options["redis_message_id"]
    data = client.hget(messages, redis_id)
    consumer.ack(settled)
    wait_for(lambda: redis_id not in acked_by_this_worker(queue), timeout=10, what="the ack")
    # Redis restarted from a file without the ack.
    client.hset(messages, redis_id, data)
    client.sadd(f"{broker.namespace}:__acks__.{broker.broker_id}.default", redis_id)

    Heartbeat().beat(broker)

    assert queued_job_ids(queue, "default") == [jobs[0]]
    assert acked_by_this_worker(queue) == {held.options["redis_message_id"]}
    assert client.llen(f"{broker.namespace}:default.wake") == 1


def test_a_message_whose_ack_is_being_sent_stays_fetched(queue, monkeypatch):
    broker = queue.broker
    submit(queue, JobRequest(actor="add", args=[1, 1]))
    consumer = broker.consume("default", prefetch=1, timeout=100)
    message = next(consumer)
    sending, answer = threading.Event(), threading.Event()
    settle = broker.settle

    def slow_settle(*args, **kwargs):
        sending.set()
        answer.wait(10)
        return settle(*args, **kwargs)

    monkeypatch.setattr(broker, "settle", slow_settle)
    consumer.ack(message)
    assert sending.wait(10)

    Heartbeat().beat(broker)

    assert acked_by_this_worker(queue) == {message.options["redis_message_id"]}
    answer.set()
    wait_for(lambda: not acked_by_this_worker(queue), timeout=10, what="the ack")
    assert queued_job_ids(queue, "default") == []


def test_a_message_whose_fetch_reply_is_on_its_way_stays_fetched(queue):
    broker = queue.broker
    for n in range(2):
        submit(queue, JobRequest(actor="add", args=[n, n]))
    consumer = broker.consume("default", prefetch=1, timeout=100)
    next(consumer)
    # The consumer's next fetch ran in Redis; its thread has not read the reply yet.
    broker.fetch("default", 1)

    Heartbeat().beat(broker)

    assert len(acked_by_this_worker(queue)) == 2
    assert queued_job_ids(queue, "default") == []
