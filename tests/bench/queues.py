"""How many messages a dramatiq namespace still holds, read the way its Redis broker stores them.

Dramatiq's Redis broker keeps each message in ``<ns>:<queue>.msgs`` (a hash)
from enqueue until the ack, and its id in the ``<ns>:<queue>`` list until a
worker fetches it; delayed messages live in ``<ns>:<queue>.DQ`` and
``<ns>:<queue>.DQ.msgs``, dead ones in ``.XQ`` (and stay there).
"""

from __future__ import annotations

import redis

from tests.support import wait_for

#: The service's dramatiq namespace (its broker's default).
SERVICE_NAMESPACE = "dramatiq"
#: The queue of every job the bench submits, in the service and in the baseline.
DEFAULT_QUEUE = "default"


class QueueWatch:
    """Counts the messages of one queue of a dramatiq namespace (its delayed twin included).

    ``polls`` counts the round trips it made, so that a measurement of Redis
    can leave them out.
    """

    def __init__(self, client: redis.Redis, namespace: str, queue: str = DEFAULT_QUEUE):
        self.client = client
        self.queue_keys = [f"{namespace}:{queue}"]
        self.message_keys = [f"{namespace}:{queue}.msgs", f"{namespace}:{queue}.DQ.msgs"]
        self.polls = 0

    def _sum(self, command: str, keys: list[str]) -> int:
        self.polls += 1
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                getattr(pipe, command)(key)
            return sum(pipe.execute())

    def unfinished(self) -> int:
        """Messages not yet acked: waiting, delayed, prefetched or running."""
        return self._sum("hlen", self.message_keys)

    def waiting(self) -> int:
        """Messages no worker has fetched yet."""
        return self._sum("llen", self.queue_keys)

    def wait_finished(self, timeout: float = 600) -> None:
        wait_for(lambda: not self.unfinished(), timeout=timeout, interval=0.02, what="a drain")
