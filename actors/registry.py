"""Declaring jobs without binding them to a broker at import time.

``@job`` records what a function is (its name, queue, whether HTTP clients
may call it, its dramatiq options); :func:`bind` turns every recorded job
into a ``dramatiq.Actor`` on the broker it is given. Importing the actors
therefore never creates a broker behind anyone's back.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.threading import Interrupt


class JobCancelled(Interrupt):
    """Raised inside a running job when a user cancels it."""


@dataclass(frozen=True)
class JobSpec:
    fn: Callable[..., Any]
    name: str
    queue: str
    public: bool
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    @property
    def description(self) -> str:
        return inspect.getdoc(self.fn) or ""


_specs: dict[str, JobSpec] = {}


def job(*, public: bool = False, queue: str = "default", **options: Any):
    """Declare a function as a job.

    ``public`` jobs may be submitted over HTTP; ``options`` are dramatiq
    actor options (``max_retries``, ``time_limit``, ``min_backoff``, ``throws``).
    """

    def declare(fn: Callable[..., Any]) -> Callable[..., Any]:
        if fn.__name__ in _specs:
            raise ValueError(f"a job named {fn.__name__!r} is already declared")
        _specs[fn.__name__] = JobSpec(fn, fn.__name__, queue, public, options)
        return fn

    return declare


def specs() -> dict[str, JobSpec]:
    """Every declared job, by name."""
    return dict(_specs)


def bind(broker: dramatiq.Broker) -> dict[str, dramatiq.Actor]:
    """Declare every job as an actor on ``broker``; return the actors by name."""
    actors = {}
    for spec in _specs.values():
        throws = spec.options.get("throws") or ()
        throws = throws if isinstance(throws, tuple) else (throws,)
        options = {**spec.options, "throws": (JobCancelled, *throws)}
        actors[spec.name] = dramatiq.Actor(
            _cancellable(spec.fn),
            broker=broker,
            actor_name=spec.name,
            queue_name=spec.queue,
            priority=0,
            options=options,
        )
    return actors


def _cancellable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let a cancelled job end quietly.

    The job's record already says "cancelled"; returning normally keeps the
    message out of the dead-letter queue, where it does not belong.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JobCancelled:
            return None

    return run
