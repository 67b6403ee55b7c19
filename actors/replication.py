"""Writes a replica has confirmed: a script call and ``WAIT``, in one round trip.

Redis replicates asynchronously: a write the master acknowledged just before
it died may never have reached the replica that takes its place. A call made
through :func:`run` is followed, in the same pipeline, by ``WAIT replicas
timeout``, which returns once that many replicas have every write the master
made up to it (or at the timeout, with how many have). Only then does the
caller answer its own client: a submission, a job's start or its end that
was confirmed survives a failover.

A call no replica confirmed in time raises :class:`NotReplicated`. Its write
is on the master, and stays there unless the master dies before a replica
catches up; the caller decides what that means (see its uses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from .calls import Steps, run_blocking


@dataclass(frozen=True)
class Confirmation:
    """How many replicas must have a write before it is answered, and how long to wait.

    Parameters:
      replicas: 0 answers at once, as a plain Redis does.
      timeout_ms: the longest wait for them.
    """

    replicas: int = 0
    timeout_ms: int = 1000


#: Writes answered at once, as a plain Redis answers them.
NO_CONFIRMATION = Confirmation()


class NotReplicated(redis.ConnectionError):
    """The master made the write, but too few replicas confirmed it in time.

    A ``ConnectionError``, so that whatever handles an unreachable Redis (a
    503, an ack sent again) handles this too, unless it knows better.
    ``reply`` is the script's own reply.
    """

    def __init__(self, reply: Any, confirmed: int, confirmation: Confirmation):
        super().__init__(
            f"{confirmed} of {confirmation.replicas} replica(s) confirmed the write "
            f"within {confirmation.timeout_ms} ms"
        )
        self.reply = reply


def run(
    script: Script,
    *,
    keys: Sequence[Any],
    args: Sequence[Any],
    confirmation: Confirmation,
    client: redis.Redis | None = None,
) -> Any:
    """Call ``script``; with replicas to wait for, in a pipeline with ``WAIT``.

    A master that does not know the script (it was a replica until a
    failover) answers ``NOSCRIPT`` without running it: the script is loaded
    and the call made again.
    """
    return run_blocking(
        steps(script, keys=keys, args=args, confirmation=confirmation, client=client)
    )


def steps(
    script: Script,
    *,
    keys: Sequence[Any],
    args: Sequence[Any],
    confirmation: Confirmation,
    client: redis.Redis | None = None,
) -> Steps[Any]:
    """:func:`run` as the calls it makes, for a blocking or an asyncio client (``calls.py``).

    The script is called with ``EVALSHA`` itself, not through the ``Script``
    object's call, which copies its arguments twice and asks whether the
    client is a pipeline through a typing protocol's slow ``isinstance``.
    """
    client = client or script.registered_client
    if not confirmation.replicas:
        try:
            return (yield client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args))
        except NoScriptError:
            yield client.script_load(script.script)
        return (yield client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args))
    for _ in range(2):
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        pipe.wait(confirmation.replicas, confirmation.timeout_ms)
        reply, confirmed = yield pipe.execute(raise_on_error=False)
        if isinstance(reply, NoScriptError):
            yield client.script_load(script.script)
            continue
        if isinstance(reply, Exception):
            raise reply
        if isinstance(confirmed, Exception):
            raise confirmed
        if confirmed < confirmation.replicas:
            raise NotReplicated(reply, confirmed, confirmation)
        return reply
    raise reply
