"""What a job's end sends while Redis is frozen is sent once, however many tries it took.

A retry, a pipeline's next step or a callback is sent from the job's end;
while Redis is frozen (SIGSTOP) past the client's read timeout, each try
times out, and the first, read before the freeze, runs once Redis resumes.
The try answered after it must send nothing: the message is sent already.
"""

from __future__ import annotations

import os
import signal
import threading

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from actors.broker import FULL_RETRY_SECONDS
from actors.states import State

from .conftest import READ_TIMEOUT

#: How long Redis stays frozen: several tries of the send time out meanwhile.
FROZEN_SECONDS = 3 * (READ_TIMEOUT + FULL_RETRY_SECONDS)


class SendsAtTheEnd(Middleware):
    """Sends one job when a job ends, as a pipeline's next step is sent."""

    def __init__(self, actor: dramatiq.Actor):
        self.actor = actor
        self.sent: list[dramatiq.Message] = []

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self.sent.append(self.actor.send(40, 2))


def test_a_send_at_a_jobs_end_that_timed_out_while_redis_was_frozen_is_sent_once(freezable):
    queue, pid = freezable
    broker = queue.broker
    add = broker.get_actor("add")
    add.send(1, 1)  # the send script loaded, as a worker's is once it sent anything
    queued = broker.keys.queue("default")
    sends = SendsAtTheEnd(add)
    broker.add_middleware(sends)

    os.kill(pid, signal.SIGSTOP)
    threading.Timer(FROZEN_SECONDS, os.kill, (pid, signal.SIGCONT)).start()
    ended = MessageProxy(add.message(0, 0))
    broker.emit_after("process_message", ended, result=0)

    # The send returned once a try was answered, after Redis resumed.
    [message] = sends.sent
    assert (
        broker.client.lrange(queued, 0, -1).count(message.options["redis_message_id"].encode()) == 1
    )
    assert queue.store.get(message.message_id).state is State.QUEUED
