"""Redis calls written once, run by a blocking client or an asyncio one.

Workers and the dashboard talk to Redis with redis-py's blocking client; the
API, an asyncio app, with ``redis.asyncio``. Each operation of the job store
is written once, as a generator that yields each call it makes to its client
and is sent the reply::

    @redis_calls
    def get(self, job_id):
        raw = yield self.client.hgetall(self.keys.job(job_id))
        return decode(raw)

With a blocking client the call has already happened and its reply is sent
straight back (:func:`run_blocking`); with an asyncio client it is awaited
first (:func:`run_async`). An error of the call is raised where it was
yielded in both cases. ``yield from store.get.steps(job_id)`` composes one
operation into another.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")
#: An operation: a generator of client calls that returns its result.
Steps = Generator[Any, Any, T]
#: What runs an operation: its result, or (asyncio) an awaitable of it.
Runner = Callable[[Steps[Any]], Any]


def run_blocking(steps: Steps[T]) -> T:
    """Run ``steps`` whose calls were made on a blocking client: each reply is its call."""
    try:
        reply = next(steps)
        while True:
            reply = steps.send(reply)
    except StopIteration as done:
        return done.value


async def run_async(steps: Steps[T]) -> T:
    """Run ``steps`` whose calls are awaitables of an asyncio client, awaiting each."""
    try:
        call = next(steps)
        while True:
            try:
                reply = await call
            except Exception as error:
                call = steps.throw(error)
            else:
                call = steps.send(reply)
    except StopIteration as done:
        return done.value


class redis_calls:
    """Make a store method written as steps run by its store's runner (``store.run``)."""

    def __init__(self, method: Callable[..., Steps[Any]]):
        self.method = method
        functools.update_wrapper(self, method)

    def __get__(self, store: Any, owner: type | None = None) -> Any:
        if store is None:
            return self
        return _Bound(store, self.method)


class _Bound:
    """An operation of one store: call it to run it, or take its ``steps`` to compose it."""

    __slots__ = ("method", "store")

    def __init__(self, store: Any, method: Callable[..., Steps[Any]]):
        self.store = store
        self.method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any | Awaitable[Any]:
        return self.store.run(self.method(self.store, *args, **kwargs))

    def steps(self, *args: Any, **kwargs: Any) -> Steps[Any]:
        return self.method(self.store, *args, **kwargs)
