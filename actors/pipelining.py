"""The API's Redis calls on one connection per process, each event-loop tick's sent together.

redis-py's asyncio client takes a connection from its pool for each call,
writes the call, waits for its reply, and gives the connection back: one
write and one read per call, and a pool's lock, timeouts and retry around
each. The API's requests run concurrently on one event loop, so the calls
they make in one tick can go out in one write, and their replies come back
in order on the same connection (Redis answers a connection's commands in
the order they came). That is automatic pipelining, as ioredis'
``enableAutoPipelining`` does it: the client is redis-py's, only the way its
commands travel changes.

Commands that hold their connection (a blocking read, ``WAIT``, a
subscription, a transaction's) still take one of the pool's, where they
wait without holding up anyone else.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
from typing import Any

import hiredis
import redis.asyncio
from redis._parsers import BaseParser
from redis.asyncio.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, InvalidResponse, ResponseError

from .storage.lua import AsyncScriptClient

#: Commands that hold their connection: they block it, or change what it is.
CONNECTION_BOUND = frozenset(
    {
        "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP",
        "WAIT", "WAITAOF", "MONITOR", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE",
        "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SELECT", "AUTH", "HELLO", "RESET",
        "CLIENT", "QUIT",
    }
)  # fmt: skip
#: Commands that block only when asked to.
BLOCKING_WHEN_ASKED = frozenset({"XREAD", "XREADGROUP"})
#: Bytes read from the connection at once.
READ_SIZE = 65536
#: A call this large is written at once, with the calls before it: it fills a
#: write of its own, and its caller may keep the loop busy before the tick ends
#: (the API makes a batch's answer while Redis runs the batch).
WRITE_AT_ONCE = READ_SIZE


class AutoPipelinedClient(AsyncScriptClient):
    """An asyncio client whose calls share one connection, each tick's in one write.

    A call whose connection fails is made again on a new one, as the pool's
    retry policy says, as redis-py's own calls are. Replies are bytes, as
    the store reads them (no ``decode_responses``).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        kwargs = self.connection_pool.connection_kwargs
        if kwargs.get("decode_responses"):
            raise ValueError("replies on a shared connection are bytes: no decode_responses")
        self._shared = SharedConnection(self.connection_pool)
        self._retry = kwargs.get("retry") or Retry(NoBackoff(), 0)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        name = args[0]
        if name in CONNECTION_BOUND or (
            name in BLOCKING_WHEN_ASKED and any(arg in (b"BLOCK", "BLOCK") for arg in args)
        ):
            return await super().execute_command(*args, **options)
        try:
            response = await self._retry.call_with_retry(
                lambda: self._shared.call(args),
                _no_cleanup,
            )
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise
        options.pop(EMPTY_RESPONSE, None)
        options.pop(NEVER_DECODE, None)
        options.pop("keys", None)
        callback = self.response_callbacks.get(name)
        if callback is None:
            return response
        reply = callback(response, **options)
        return await reply if inspect.isawaitable(reply) else reply

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await self._shared.close()
        await super().aclose(close_connection_pool)


async def _no_cleanup(error: Exception) -> None:
    """The shared connection has closed itself by the time a failed call is retried."""


class SharedConnection:
    """One connection of ``pool``'s kind, its replies handed out in the order calls were made.

    Calls made in one tick are packed into one buffer, written once at the
    end of it. A task reads the connection and resolves each call's future
    with its reply. When the connection fails, every call waiting on it
    fails with the error, and the next call opens a new one.
    """

    def __init__(self, pool: redis.asyncio.ConnectionPool):
        self.pool = pool
        #: A call waits this long for its reply (the pool's socket timeout).
        self.read_timeout: float | None = pool.connection_kwargs.get("socket_timeout")
        self._connection: redis.asyncio.Connection | None = None
        self._opening: asyncio.Future | None = None
        #: Each call's reply to come, and when it stops waiting for it.
        self._waiting: collections.deque[tuple[asyncio.Future, float]] = collections.deque()
        self._unsent: list[bytes] = []
        self._reading: asyncio.Task | None = None

    async def call(self, args: tuple) -> Any:
        connection = self._connection or await self._open()
        if connection is not self._connection:
            # It failed between opening and this call's turn: nothing reads it.
            raise ConnectionError("Connection closed.")
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        packed = connection.pack_command(*args)
        if not self._unsent:
            loop.call_soon(self._write, connection)
        self._unsent.extend(packed)
        self._waiting.append((reply, loop.time() + (self.read_timeout or 0)))
        if sum(map(len, packed)) >= WRITE_AT_ONCE:
            self._write(connection)
        return await reply

    async def _open(self) -> redis.asyncio.Connection:
        """The connection, opened once however many calls wait for it."""
        if self._opening is None or self._opening.done():
            # (Done, it is the last one's, whose callers were all cancelled.)
            self._opening = asyncio.ensure_future(self._connect())
        opening = self._opening
        try:
            return await asyncio.shield(opening)
        finally:
            if self._opening is opening and opening.done():
                self._opening = None

    async def _connect(self) -> redis.asyncio.Connection:
        connection = self.pool.make_connection()
        await connection.connect()
        self._connection = connection
        self._reading = asyncio.ensure_future(self._read(connection))
        return connection

    def _write(self, connection: redis.asyncio.Connection) -> None:
        if not self._unsent:  # written at once already
            return
        if connection is not self._connection:
            # It failed this tick: its calls have been told so already, and
            # what waits to be sent now is a new connection's, written by its own.
            return
        unsent, self._unsent = self._unsent, []
        try:
            connection._writer.writelines(unsent)
        except Exception as error:  # the transport is closing: fail what waits
            self._fail(connection, ConnectionError(f"Error writing to Redis: {error}"))

    async def _read(self, connection: redis.asyncio.Connection) -> None:
        parser = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)
        stream = connection._reader
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    async with asyncio.timeout_at(self._read_deadline(loop)):
                        data = await stream.read(READ_SIZE)
                except TimeoutError:
                    if self._waiting and self._waiting[0][1] <= loop.time():
                        raise redis.TimeoutError("Timeout reading from Redis") from None
                    continue
                if not data:
                    raise ConnectionError("Connection closed by server.")
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    future, _deadline = self._waiting.popleft()
                    if future.done():  # its caller was cancelled
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except asyncio.CancelledError:
            self._fail(connection, ConnectionError("Connection closed."))
            raise
        except Exception as error:  # whatever it is, no call is left waiting on a dead reader
            if not isinstance(error, ConnectionError | redis.TimeoutError):
                error = ConnectionError(f"Error reading from Redis: {error!r}")
            self._fail(connection, error)

    def _read_deadline(self, loop: asyncio.AbstractEventLoop) -> float | None:
        """When the oldest call waiting stops waiting: each call waits its whole read timeout.

        Timed from the read instead, a call made late in a quiet spell would
        fail as soon as the spell's read timed out.
        """
        if self.read_timeout is None:
            return None
        if self._waiting:
            return self._waiting[0][1]
        return loop.time() + self.read_timeout

    def _fail(self, connection: redis.asyncio.Connection, error: Exception) -> None:
        """Close ``connection``; every call waiting on it fails with ``error``."""
        if connection is not self._connection:
            return
        self._connection = None
        self._unsent = []
        waiting, self._waiting = self._waiting, collections.deque()
        for future, _deadline in waiting:
            if not future.done():
                future.set_exception(error)
        connection._close()

    async def close(self) -> None:
        connection, reading = self._connection, self._reading
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        if connection is not None:
            await connection.disconnect()
