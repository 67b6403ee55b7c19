"""Long-lived requests (event streams, ``?wait=``): coroutines following jobs.

A request that follows a job holds no thread and no Redis connection: its
coroutine waits to be handed the job's next events. Every event a job's
record gets is also published, whole, on a channel named as its event stream
(``actors/storage/lua/job.lua``). Each process keeps one subscription, to the
channels of the jobs its requests follow, and hands each event it hears to
every request following that job. A request reads the job's events once, as
it starts (after subscribing, so that nothing falls between); a follower
that has heard nothing for a while has them read again (by one reader, a
few jobs at a time, each job once however many follow it), so an event
published while the subscription was reconnecting is late, never lost.

Each process takes at most ``limit`` long-lived requests at once
(``STREAM_SLOTS``, sized by file descriptors and memory); one too many gets
503 with Retry-After rather than an answer that never comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from typing import NamedTuple

import redis

from actors.record import event_state
from actors.states import TERMINAL_STATES
from actors.storage.events import (
    EVENTS_PER_READ,
    Event,
    channel_of,
    later,
    position,
    published_event,
)
from actors.store import JobStore
from actors.workflow_store import ENDED, WorkflowStore

from .errors import BUSY_RETRY_AFTER, unavailable

logger = logging.getLogger(__name__)

#: Jobs whose news is read at once: each read takes a connection of the pool.
READS_AT_ONCE = 16
#: How long the subscription waits for a message before it looks again.
LISTEN_SECONDS = 5
#: How long the subscription or the reader waits after losing Redis before trying again.
RECONNECT_SECONDS = 1


class Follower:
    """One request following one job: where it is in the job's events, and what came since."""

    __slots__ = ("after", "complete", "early", "ends", "last_state", "news", "woken")

    def __init__(self, after: str, ends: Collection[str]):
        self.after = after
        #: The states in which what it follows has ended.
        self.ends = ends
        #: Events read for it and not yet taken.
        self.news: list[Event] = []
        #: Whether the last read gave every event the job had, and the state of the last one.
        self.complete = False
        self.last_state: str | None = None
        self.woken = asyncio.Event()
        #: Events heard before its first read came back; None once it has.
        self.early: list[Event] | None = []

    def start(self, events: list[Event], complete: bool) -> None:
        """Take its first read, then what was heard meanwhile."""
        early, self.early = self.early or [], None
        self.hand(events, complete)
        if early:
            self.hand(early, True)

    def hear(self, event: Event) -> None:
        """An event as it was published: the latest there is."""
        if self.early is not None:
            self.early.append(event)
        else:
            self.hand([event], True)

    def hand(self, events: list[Event], complete: bool) -> None:
        fresh = [(event_id, event) for event_id, event in events if later(event_id, self.after)]
        if fresh:
            self.after = fresh[-1][0]
            self.last_state = event_state(fresh[-1][1])
            self.news += fresh
        if fresh or complete != self.complete:
            self.woken.set()
        self.complete = complete

    @property
    def ended(self) -> bool:
        """Whether what it follows has ended with the last event this follower got."""
        return self.complete and self.last_state in self.ends

    def take(self) -> list[Event]:
        news, self.news = self.news, []
        self.woken.clear()
        return news


class Followed(NamedTuple):
    """What a request follows: the stream its events are published on, how they are read
    (the events after an id), and the states in which it has ended."""

    stream_key: str
    read: Callable[[str], Awaitable[list[Event]]]
    ends: Collection[str]


class Streams:
    """The long-lived requests of this process, the subscription and the reader they share.

    Parameters:
      store: the job store, on an asyncio client.
      limit: how many long-lived requests the process takes at once.
    """

    def __init__(self, store: JobStore, limit: int):
        self.store = store
        self.limit = limit
        self.open = 0
        #: Per channel (a job's event stream), the requests following it.
        self._followers: dict[bytes, set[Follower]] = {}
        #: Channels with news since the last read.
        self._news: set[bytes] = set()
        self._news_came = asyncio.Event()
        #: Per channel, how its news is read: the events after an id.
        self._reads: dict[bytes, Callable[[str], Awaitable[list[Event]]]] = {}
        self._pubsub = store.client.pubsub()
        #: Held while subscribing: see :meth:`_join`.
        self._subscribing = asyncio.Lock()
        self._listener: asyncio.Task | None = None
        self._reader: asyncio.Task | None = None

    def take(self) -> Callable[[], None]:
        """Count one long-lived request, or refuse it with 503; call what it returns at its end."""
        if self.open >= self.limit:
            raise unavailable(
                "too many long-lived requests on this instance; try again shortly",
                retry_after=BUSY_RETRY_AFTER,
            )
        self.open += 1
        return self._release

    def _release(self) -> None:
        self.open -= 1

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Count a long-lived request for the duration of the block, or refuse it with 503."""
        release = self.take()
        try:
            yield
        finally:
            release()

    async def follow_job(
        self, job_id: str, *, after: str = "0-0", quiet_seconds: float, deadline: float
    ) -> AsyncIterator[Event | None]:
        """The job's events after ``after`` as they happen, until it ends or ``deadline``."""
        last_id = await self.store.last_event_id(job_id)
        if last_id is not None:
            # Events to come get ids after the last one, not after whatever id
            # a client sends: following from an id past the end would miss them.
            after = min(after, last_id, key=position)
        job = Followed(
            self.store.keys.events(job_id),
            lambda since: self.store.events(job_id, after=since),
            TERMINAL_STATES,
        )
        follow = self.follow(job, after=after, quiet_seconds=quiet_seconds, deadline=deadline)
        async with contextlib.aclosing(follow):
            async for item in follow:
                yield item

    def follow_workflow(
        self,
        workflows: WorkflowStore,
        workflow_id: str,
        *,
        after: str,
        quiet_seconds: float,
        deadline: float,
    ) -> AsyncIterator[Event | None]:
        """The workflow's events after ``after`` as they happen, until it ends or ``deadline``."""
        workflow = Followed(
            workflows.jobs.keys.workflow_events(workflow_id),
            lambda since: workflows.events(workflow_id, after=since),
            ENDED,
        )
        return self.follow(workflow, after=after, quiet_seconds=quiet_seconds, deadline=deadline)

    async def follow(
        self, followed: Followed, *, after: str, quiet_seconds: float, deadline: float
    ) -> AsyncIterator[Event | None]:
        """The events of ``followed`` after ``after``, read again as its stream's are published.

        Until one in a state of its ``ends`` is the last, or until ``deadline``
        (a ``time.monotonic()`` value). Yields None each time
        ``quiet_seconds`` pass without an event, so that a stream can say it
        is still there.
        """
        channel = channel_of(followed.stream_key)
        read = followed.read
        follower = Follower(after, followed.ends)
        try:
            # Listening before the first read: an event that comes between is heard.
            await self._join(channel, follower, read)
            events = await read(after)
            follower.start(events, len(events) < EVENTS_PER_READ)
            if not follower.complete:
                self._read_soon(channel)
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(follower.woken.wait(), min(quiet_seconds, remaining))
                except TimeoutError:
                    self._read_soon(channel)
                    yield None
                    continue
                for item in follower.take():
                    yield item
                if follower.ended:
                    return
        finally:
            await self._leave(channel, follower)

    async def _join(
        self, channel: bytes, follower: Follower, read: Callable[[str], Awaitable[list[Event]]]
    ) -> None:
        followers = self._followers.setdefault(channel, set())
        followers.add(follower)
        self._reads.setdefault(channel, read)
        if len(followers) == 1:
            # redis-py's PubSub takes a connection of the pool on its first
            # command, and is not made to be called at once by several
            # coroutines: first subscriptions at once would each take one,
            # all but the last of them never read, nor given back, and the
            # pool emptied by them would fail the requests that wait for it.
            async with self._subscribing:
                await self._pubsub.subscribe(channel)
        # Each runs while anyone follows a job, and starts again with the next follower.
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen())
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())

    async def _leave(self, channel: bytes, follower: Follower) -> None:
        followers = self._followers.get(channel, set())
        followers.discard(follower)
        if not followers:
            self._followers.pop(channel, None)
            self._reads.pop(channel, None)
            with contextlib.suppress(redis.RedisError):
                await self._pubsub.unsubscribe(channel)

    def _read_soon(self, *channels: bytes) -> None:
        self._news.update(channels)
        self._news_came.set()

    async def _listen(self) -> None:
        """Mark the channels messages come on as having news, while anyone follows a job."""
        while self._followers:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=LISTEN_SECONDS
                )
            except redis.RedisError as error:
                logger.warning("Event subscription lost Redis (%s); retrying.", error)
                self._read_soon(*self._followers)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            if message is not None:
                heard = published_event(message["data"])
                for follower in self._followers.get(message["channel"], ()):
                    follower.hear(heard)
        self._news_came.set()  # the reader ends too

    async def _read(self) -> None:
        """Read the news of the channels that have some, a few at a time, and hand it out."""
        while self._followers:
            await self._news_came.wait()
            self._news_came.clear()
            channels = [channel for channel in self._news if channel in self._followers]
            self._news = set()
            for start in range(0, len(channels), READS_AT_ONCE):
                batch = channels[start : start + READS_AT_ONCE]
                await asyncio.gather(*(self._read_one(channel) for channel in batch))

    async def _read_one(self, channel: bytes) -> None:
        followers = self._followers.get(channel)
        if not followers:
            return
        since = min((follower.after for follower in followers), key=position)
        try:
            events = await self._reads[channel](since)
        except redis.RedisError as error:
            logger.warning("Reading followed events lost Redis (%s); retrying.", error)
            await asyncio.sleep(RECONNECT_SECONDS)
            self._read_soon(channel)
            return
        complete = len(events) < EVENTS_PER_READ
        if not complete:
            self._read_soon(channel)
        for follower in self._followers.get(channel, ()):
            follower.hand(events, complete)
