"""Retry or delete all the dead letters of a queue at once.

Dramatiq's Redis broker keeps a queue's dead letters (messages out of
retries) for a week: their ids in ``<ns>:<queue>.XQ``, scored by when they
died, and the messages in ``<ns>:<queue>.XQ.msgs``. dramatiq-dashboard can
requeue or delete them one by one; these do it for all of them.

Both act on the letters that had died by a given time, the one the admin saw
on the confirmation page, never on letters that died after it. Deleting a
letter writes its job's record too (see ``deletions.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

from dramatiq.common import xq_name
from dramatiq.errors import DecodeError
from dramatiq.message import Message

from actors import Queue, replication
from actors.storage.codecs import RequeueDeadLetters
from actors.storage.lua import source
from actors.storage.queues import QueueReadings

from .deletions import Deletions

#: Letters moved per script call: each call blocks Redis while it runs.
BATCH_SIZE = 500


def requeued(message: Message, queue_name: str) -> Message:
    """``message`` as dramatiq-dashboard's Requeue button enqueues it again.

    Back on ``queue_name`` with its retries reset, under a new Redis id.
    """
    return message.copy(
        queue_name=queue_name,
        options={
            "eta": message.message_timestamp,
            "retries": 0,
            "redis_message_id": str(uuid.uuid4()),
        },
    )


class DeadLetters:
    """The dead letters of the broker's queues, by queue name.

    Parameters:
      queue: the job queue, whose broker's client, namespace and dead-letter keys are used.
    """

    def __init__(self, queue: Queue):
        self.broker = queue.broker
        self.client = queue.broker.client
        self.readings = QueueReadings(queue.broker.client, queue.broker.keys)
        self.deletions = Deletions(queue)
        self._requeue = self.client.register_script(
            source(Path(__file__).with_name("lua") / RequeueDeadLetters.FILE)
        )

    def newest(self, queue_name: str) -> tuple[int, int | None]:
        """How many letters are dead, and when the newest died (ms), None if none."""
        return self.readings.dead_letters(queue_name)

    def ids(self, queue_name: str, dead_before: int) -> list[bytes]:
        """The Redis ids of the letters dead by ``dead_before`` (ms), oldest first."""
        return self.readings.dead_letter_ids(queue_name, dead_before)

    def messages(self, queue_name: str, ids: list[bytes]) -> list[bytes | None]:
        """The dead letters of these ids; None for those gone meanwhile."""
        return self.readings.messages(xq_name(queue_name), ids)

    def retry(self, queue_name: str, ids: list[bytes]) -> list[str]:
        """Requeue these dead letters; return the new Redis ids of those that went back.

        A letter no longer dead (requeued or deleted meanwhile) or whose
        message cannot be decoded is left where it is.
        """
        moves = []
        for dead_id, data in zip(ids, self.messages(queue_name, ids), strict=True):
            try:
                message = requeued(Message.decode(data), queue_name)
            except DecodeError:
                continue  # gone meanwhile (None), or not a message at all
            moves.append((dead_id, message.options["redis_message_id"], message.encode()))
        if not moves:
            return []
        call = RequeueDeadLetters.call(self.broker.keys, queue_name, moves)
        moved = replication.run(
            self._requeue, keys=call.keys, args=call.args, confirmation=self.broker.confirmation
        )
        return RequeueDeadLetters.reply(moved)

    def retry_all(self, queue_name: str, dead_before: int) -> int:
        """Requeue every letter dead by ``dead_before`` (ms); return how many went back."""
        batches = _batches(self.ids(queue_name, dead_before))
        return sum(len(self.retry(queue_name, batch)) for batch in batches)

    def delete_all(self, queue_name: str, dead_before: int) -> int:
        """Delete every letter dead by ``dead_before`` (ms); return how many were."""
        dead = xq_name(queue_name)
        batches = _batches(self.ids(queue_name, dead_before))
        return sum(self.deletions.delete(dead, batch) for batch in batches)


def _batches(ids: list[bytes]) -> Iterator[list[bytes]]:
    for start in range(0, len(ids), BATCH_SIZE):
        yield ids[start : start + BATCH_SIZE]
