"""Where Redis is: one factory for every client the service builds, plain or through Sentinel.

A client of a Redis behind Sentinel asks the sentinels for the master's
address each time it opens a connection (redis-py's ``SentinelConnectionPool``),
so after a failover every new connection goes to the new master. A
connection that was open when the master died fails once: that call is a
``redis.ConnectionError`` (the API answers 503 with Retry-After, a worker
sends its acks again, a consumer reconnects), and the next one connects to
whichever master the sentinels name. A demoted master answers writes with
``READONLY``, which redis-py turns into a ``ConnectionError`` and a new
connection; while no master is elected, connecting raises
``MasterNotFoundError``, a ``ConnectionError`` too. Scripts are not known
to a new master: redis-py's ``Script`` loads one again on ``NOSCRIPT``, and
:mod:`.replication` does the same for its pipelines.

The blocking clients retry no command themselves: where a retry is safe, the
caller makes it (a worker's acks, see ``actors.consumer``); where it is not,
the caller is told (a submission answers 503, and its ``Idempotency-Key``
makes resending it safe). The API's asyncio pool for a plain Redis does
retry a call whose connection failed (see ``async_client``), though not one
that timed out (the request answers 503 within the read timeout): running one of
its scripts twice writes once, since ``storage/lua/create.lua`` writes nothing for a
job id that has a record (and answers as its first run would have: a 202)
and every other write is a transition checked against the state it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

import hiredis
import redis.asyncio
import redis.asyncio.sentinel
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import HiredisRespSerializer
from redis.sentinel import Sentinel
from redis.utils import HIREDIS_AVAILABLE

from .pipelining import AutoPipelinedClient
from .replication import NO_CONFIRMATION, Confirmation
from .storage.lua import AsyncScriptClient, ScriptClient

#: How long to wait for a connection to Redis, in seconds.
CONNECT_TIMEOUT = 2
#: Above the longest blocking read the store makes (see JobStore.follow).
READ_TIMEOUT = 30
#: A sentinel answers at once or is skipped for the next one.
SENTINEL_TIMEOUT = 0.5


@dataclass(frozen=True)
class RedisConfig:
    """Where Redis is, and how sure a write must be before it counts.

    Parameters:
      url: a plain Redis's URL; not used when ``sentinels`` are given.
      sentinels: (host, port) of each sentinel; empty for a plain Redis.
      master_name: the name the sentinels know the master by.
      confirmation: how many replicas must have a write (with ``sentinels`` only).
    """

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master_name: str = "jobqueue"
    confirmation: Confirmation = NO_CONFIRMATION

    @property
    def write_confirmation(self) -> Confirmation:
        """The confirmation writes wait for: none without sentinels, whose master has no replica."""
        return self.confirmation if self.sentinels else NO_CONFIRMATION


def client(config: RedisConfig) -> ScriptClient:
    """A client of the Redis ``config`` names: of the current master, behind Sentinel.

    A :class:`~actors.storage.lua.ScriptClient`, whose scripts a full Redis refuses whole.
    """
    options = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": READ_TIMEOUT,
        "health_check_interval": 15,
        **({"command_packer": _PACKER} if HIREDIS_AVAILABLE else {}),
    }
    if not config.sentinels:
        return ScriptClient.from_url(config.url, **options)
    sentinel = Sentinel(
        list(config.sentinels),
        sentinel_kwargs={
            "socket_connect_timeout": SENTINEL_TIMEOUT,
            "socket_timeout": SENTINEL_TIMEOUT,
        },
    )
    return sentinel.master_for(config.master_name, redis_class=ScriptClient, **options)


def async_client(
    config: RedisConfig, *, max_connections: int, wait_seconds: float
) -> AsyncScriptClient:
    """``client`` for an asyncio app (the API): one pool, of at most ``max_connections``.

    A request waits up to ``wait_seconds`` for a connection of the pool
    rather than open one of its own, so a burst of requests opens no more.
    A plain Redis's connections retry a call that failed to connect, as
    redis-py's own pools do and as a pool given to the client does not: the
    first call on each connection after Redis restarted failed otherwise.
    A plain Redis's calls share one connection, those of a tick sent together
    (:mod:`.pipelining`); blocking ones, and pipelines, take the pool's.
    """
    options = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": READ_TIMEOUT,
        "health_check_interval": 15,
    }
    if config.sentinels:
        sentinel = redis.asyncio.sentinel.Sentinel(
            list(config.sentinels),
            sentinel_kwargs={
                "socket_connect_timeout": SENTINEL_TIMEOUT,
                "socket_timeout": SENTINEL_TIMEOUT,
            },
        )
        return sentinel.master_for(
            config.master_name,
            redis_class=AsyncScriptClient,
            connection_pool_class=_BlockingSentinelPool,
            max_connections=max_connections,
            timeout=wait_seconds,
            **options,
            **_packed(_PackedSentinelConnection),
        )
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        config.url,
        max_connections=max_connections,
        timeout=wait_seconds,
        # A call that timed out is not made again: Redis has not answered for
        # a whole read timeout, and each try would wait as long again.
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.1, cap=1),
            retries=3,
            supported_errors=(redis.ConnectionError,),
        ),
        **options,
        **_packed(_PackedConnection),
    )
    return AutoPipelinedClient(connection_pool=pool)


class _HiredisPacker:
    """Commands packed by hiredis at once, the packer of every connection to Redis.

    redis-py's asyncio connections pack every command in Python, argument by
    argument; its blocking ones hand hiredis the arguments only once a
    generator has looked at each in Python. A batch's script call has
    thousands of them, and a worker's settle some fifty a job.
    """

    _serializer = HiredisRespSerializer()

    def pack(self, *args) -> list[bytes]:
        if isinstance(args[0], str) and " " not in args[0]:
            # Straight to hiredis: redis-py's serializer first looks at every
            # argument in Python, for the bytearrays and memoryviews hiredis
            # refuses (and the command names of two words it splits).
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        return self._serializer.pack(*args)


_PACKER = _HiredisPacker()


class _HiredisPacking:
    """An asyncio connection whose commands :class:`_HiredisPacker` packs."""

    def pack_command(self, *args) -> list[bytes]:
        return _PACKER.pack(*args)


class _PackedConnection(_HiredisPacking, redis.asyncio.Connection):
    pass


class _PackedSentinelConnection(_HiredisPacking, redis.asyncio.sentinel.SentinelManagedConnection):
    pass


def _packed(connection_class: type) -> dict:
    """The pool's connection class where hiredis is there to pack (redis-py's default otherwise)."""
    return {"connection_class": connection_class} if HIREDIS_AVAILABLE else {}


class _BlockingSentinelPool(
    redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool
):
    """The sentinels' pool of the master's connections, which waits for a free one.

    redis-py's own refuses a request past ``max_connections`` ("Too many
    connections"), a 503 for every burst above the pool's size.
    """
