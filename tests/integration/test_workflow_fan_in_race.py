"""The fan-in race, a thousand times: the last two steps of a group end at once, one's worker dies.

Two brokers stand for two worker processes, on a real Redis, calling what a
worker calls: the fetch that takes a message, the settle that acks it with
its job's end, and the heartbeat that hands a dead worker's messages back.
The worker that dies does so before its settle (its step runs again
elsewhere), just after it (nothing runs again), or it was only stopped and
sends its settle after the step ran again elsewhere (a stale end, fenced by
its attempt). Whichever, the step after the group is queued exactly once,
with both results.
"""

from __future__ import annotations

import functools
import random
import threading

import pytest
from dramatiq import Message

import actors
from actors import jobs, lifecycle
from actors.canvas import chain, group
from actors.consumer import Settlement
from actors.middleware import Heartbeat
from actors.record import event_state
from actors.states import State
from actors.workflows import Workflows

RUNS = 1000
FATES = ("dies before its end is written", "dies just after", "was stopped, sends it late")


def fetch(broker) -> tuple[Message, int]:
    """The one message ``broker`` takes from the default queue, and the attempt it reserves."""
    [(data, attempt)] = broker.fetch("default", 1).messages
    return Message.decode(data), attempt


def at_once(*calls) -> None:
    """Make ``calls``, each in a thread of its own, all let go at the same moment."""
    start = threading.Barrier(len(calls))
    threads = [threading.Thread(target=lambda c=call: (start.wait(), c())) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def settle(broker, message: Message, attempt: int) -> None:
    """Start ``message``'s job and ack it with its end, as a worker's consumer does.

    A consumer sends a start as soon as a thread takes the job up; a job that
    returns at once has its start and its end written by one call, as here.
    """
    result = sum(message.args)
    ending = lifecycle.finish(
        result=result, exception=None, retried=False, permanent=False, attempt=attempt
    )
    redis_id = message.options["redis_message_id"]
    broker.settle(
        "default",
        [
            Settlement("start", redis_id, message.message_id, lifecycle.start(attempt)),
            Settlement("ack", redis_id, message.message_id, ending),
        ],
    )


@pytest.mark.e2e
def test_a_worker_killed_as_a_group_ends_loses_no_step_and_releases_the_next_once(settings):
    killed, survivor = (
        actors.connect(settings.queue_config()).broker,
        actors.connect(settings.queue_config()).broker,
    )
    workflows = Workflows.of(actors.connect(settings.queue_config()))
    client = workflows.store.client
    heartbeat = Heartbeat()
    fates = random.Random(20)
    seen = dict.fromkeys(FATES, 0)

    for run in range(RUNS):
        client.flushdb()
        submitted = workflows.submit(
            chain(group(jobs.add.si(1, 1), jobs.add.si(2, 2)), jobs.total.s())
        )
        first, first_attempt = fetch(killed)
        second, second_attempt = fetch(survivor)
        # The killed worker's last beat was long ago: the next beat finds it dead.
        client.zadd(f"{killed.namespace}:__heartbeats__", {killed.broker_id: 1})
        fate = fates.choice(FATES)
        seen[fate] += 1

        ends = [functools.partial(settle, survivor, second, second_attempt)]
        if fate == FATES[1]:
            ends.append(functools.partial(settle, killed, first, first_attempt))
        at_once(*ends)

        handed_back = heartbeat.beat(survivor)
        if fate == FATES[1]:
            assert handed_back == 0, run
        else:
            assert handed_back == 1, run
            again, attempt = fetch(survivor)
            assert (again.message_id, attempt) == (first.message_id, first_attempt + 1), run
            ends = [functools.partial(settle, survivor, again, attempt)]
            if fate == FATES[2]:
                ends.append(functools.partial(settle, killed, first, first_attempt))
            at_once(*ends)

        record = workflows.store.get(submitted.id)
        fan_in = record.steps[-1]
        assert [step.state for step in record.steps] == [
            State.SUCCEEDED,
            State.SUCCEEDED,
            State.QUEUED,
        ], (run, fate)
        queued = client.lrange(f"{survivor.namespace}:default", 0, -1)
        assert len(queued) == 1, (run, fate)
        message = Message.decode(client.hget(f"{survivor.namespace}:default.msgs", queued[0]))
        assert (message.message_id, message.args) == (fan_in.job_id, ([2, 4],)), (run, fate)
        # Released once: a job that waits again keeps only the event that queued it.
        events = workflows.queue.store.events(fan_in.job_id)
        assert [event_state(event) for _, event in events] == [State.QUEUED], (run, fate)

    assert all(seen.values()), seen
