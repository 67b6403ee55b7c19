"""Deleting messages from the dashboard without leaving their jobs' records untrue.

dramatiq-dashboard's Delete removes a message and nothing else: a job whose
queued message was deleted read "queued" for good. Here a deleted message
takes its job with it, in the same script call: a queued or delayed job is
cancelled (as ``DELETE /jobs/{id}`` does), and a job whose dead letter is
deleted is dead (its record already says so unless it was never written).
"""

from __future__ import annotations

from pathlib import Path

from dramatiq.common import q_name, xq_name
from dramatiq.errors import DecodeError
from dramatiq.message import Message

from actors import Queue, lifecycle, replication
from actors.storage.codecs import DeleteMessages
from actors.storage.lua import source
from actors.storage.queues import QueueReadings


class Deletions:
    """Deletes messages from a queue, its delay queue or its dead letters, and writes their jobs.

    Parameters:
      queue: the job queue, whose broker holds the messages and whose store the records.
    """

    def __init__(self, queue: Queue):
        self.broker = queue.broker
        self.store = queue.store
        self.readings = QueueReadings(queue.broker.client, queue.broker.keys)
        self._delete = self.broker.client.register_script(
            source(Path(__file__).with_name("lua") / DeleteMessages.FILE)
        )

    def delete(self, queue_name: str, ids: list[bytes]) -> int:
        """Delete the messages of these Redis ids from ``queue_name``; return how many were.

        ``queue_name`` is a queue, its ``.DQ`` or its ``.XQ``, as the
        dashboard names them. A message that cannot be decoded goes with no job.
        """
        found: list[tuple[bytes, str]] = []
        for message_id, data in zip(ids, self.readings.messages(queue_name, ids), strict=True):
            try:
                job_id = Message.decode(data).message_id
            except DecodeError:
                job_id = ""  # gone meanwhile (None), or not a message at all
            found.append((message_id, job_id))
        if not found:
            return 0
        dead = queue_name == xq_name(q_name(queue_name))
        ended = lifecycle.dead_letter_deleted() if dead else lifecycle.cancel()
        call = DeleteMessages.call(self.store.writes, self.broker.keys, queue_name, ended, found)
        return replication.run(
            self._delete,
            keys=call.keys,
            args=call.args,
            confirmation=self.broker.confirmation,
        )
