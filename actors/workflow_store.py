"""Workflow records in Redis: written by ``storage/lua/*workflow*.lua``, read here.

A workflow's record lives beside its steps' job records, under the job
store's namespace, and is moved on by the writes of those jobs (see
``storage/lua/workflow.lua``, which lists its keys). Besides:

* ``<ns>:workflows`` a stream indexing every workflow, newest last, trimmed by age.
* ``<ns>:workflows:tally`` a hash counting the workflows running now, and
  those that ever ended, by state: what the metrics report.

As the job store's, each operation is written once (``actors/calls.py``):
workers and the dashboard run it on a blocking client, the API awaits it on
an asyncio one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator

from .calls import redis_calls
from .canvas import OnFailure, Step
from .record import STATE_FIELD, event_state
from .states import State
from .storage.codecs import NewStep, WorkflowCancel, WorkflowCreate, WorkflowRetry
from .storage.events import Event, read_stream
from .storage.lua import source
from .store import JobStore, index_before


class WorkflowState(StrEnum):
    """A workflow's states: named as a job's, and meaning what they mean for a job."""

    RUNNING = State.RUNNING.value
    SUCCEEDED = State.SUCCEEDED.value
    FAILED = State.FAILED.value
    CANCELLED = State.CANCELLED.value


#: States a workflow ends in; failed and cancelled ones can be retried.
ENDED = frozenset({WorkflowState.SUCCEEDED, WorkflowState.FAILED, WorkflowState.CANCELLED})
RETRYABLE = frozenset({WorkflowState.FAILED, WorkflowState.CANCELLED})


class StepView(BaseModel):
    """One step of a workflow: its job and where it stands."""

    step: int
    actor: str
    job_id: str
    parents: list[int]
    on_failure: OnFailure
    receives: bool
    #: Its job's state; None once the job's record has expired.
    state: State | None


class WorkflowRecord(BaseModel):
    """What the store keeps of a workflow. Times are milliseconds since the epoch."""

    id: str
    state: WorkflowState
    created_at: int
    updated_at: int | None = None
    finished_at: int | None = None
    #: The last step's result, or the list of the last group's.
    result: Annotated[Any, BeforeValidator(json.loads)] = None
    #: Which step made the workflow fail: its number, job and state.
    error: Annotated[dict[str, Any] | None, BeforeValidator(json.loads)] = None
    steps: list[StepView]

    @property
    def ended(self) -> bool:
        return self.state in ENDED


class WorkflowStore:
    """Reads workflows, and runs the scripts that write them, on its job store's client.

    Parameters:
      jobs: the job store, whose client, namespace and retention the
        workflows share.
      max_input_bytes: the most a step receives from the steps before it;
        more, and the step fails without running.
    """

    def __init__(self, jobs: JobStore, *, max_input_bytes: int):
        self.jobs = jobs
        self.client = jobs.client
        self.run = jobs.run
        self.max_input_bytes = max_input_bytes
        register = self.client.register_script
        self._create = register(source(WorkflowCreate.FILE))
        self._cancel = register(source(WorkflowCancel.FILE))
        self._retry = register(source(WorkflowRetry.FILE))

    # Keys -----------------------------------------------------------------

    def key(self, workflow_id: str) -> str:
        return self.jobs.keys.workflow(workflow_id)

    @property
    def index_key(self) -> str:
        return self.jobs.keys.workflows

    @property
    def tally_key(self) -> str:
        return self.jobs.keys.workflows_tally

    # Writing --------------------------------------------------------------

    @redis_calls
    def create(self, workflow_id: str, fields: dict[str, str], steps: list[NewStep]) -> None:
        """Write a workflow and its steps' jobs, and queue its first steps, in one call."""
        call = WorkflowCreate.call(
            self.jobs.writes, workflow_id, fields, steps, max_input_bytes=self.max_input_bytes
        )
        yield self._create(keys=call.keys, args=call.args)

    @redis_calls
    def cancel(self, workflow_id: str) -> tuple[bool, WorkflowState | None]:
        """Cancel a running workflow and its steps; ``(applied, state before)``."""
        call = WorkflowCancel.call(self.jobs.keys, workflow_id)
        applied, before = WorkflowCancel.reply((yield self._cancel(keys=call.keys, args=call.args)))
        return applied, WorkflowState(before) if before is not None else None

    @redis_calls
    def retry(self, workflow_id: str, steps: list[NewStep]) -> tuple[bool, WorkflowState | None]:
        """Run the ``steps`` again, with new jobs."""
        call = WorkflowRetry.call(self.jobs.writes, workflow_id, steps)
        applied, before = WorkflowRetry.reply((yield self._retry(keys=call.keys, args=call.args)))
        return applied, WorkflowState(before) if before is not None else None

    # Reading --------------------------------------------------------------

    @redis_calls
    def definitions(self, workflow_id: str) -> dict[int, dict[str, Any]]:
        """Each step's definition, by number."""
        raw = yield self.client.hgetall(self.jobs.keys.workflow_steps(workflow_id))
        return {int(step): json.loads(definition) for step, definition in raw.items()}

    @redis_calls
    def outcomes(self, workflow_id: str) -> dict[int, str]:
        """The state each step that was counted ended in, by number."""
        raw = yield self.client.hgetall(self.jobs.keys.workflow_outcomes(workflow_id))
        return {int(step): state.decode() for step, state in raw.items()}

    @redis_calls
    def get(self, workflow_id: str) -> WorkflowRecord | None:
        """The workflow's record with its steps, or None (no such workflow, or it expired)."""
        raw = yield self.client.hgetall(self.key(workflow_id))
        if not raw:
            return None
        fields = {name.decode(): value.decode() for name, value in raw.items()}
        definitions = sorted((yield from self.definitions.steps(workflow_id)).items())
        pipe = self.client.pipeline(transaction=False)
        for _number, definition in definitions:
            pipe.hget(self.jobs.keys.job(definition["job"]), STATE_FIELD)
        states = yield pipe.execute()
        steps = []
        for (number, definition), state in zip(definitions, states, strict=True):
            step = Step.model_validate(definition["step"])
            steps.append(
                StepView(
                    step=number,
                    actor=step.actor,
                    job_id=definition["job"],
                    parents=definition["parents"],
                    on_failure=step.on_failure,
                    receives=definition["receives"],
                    state=state and state.decode(),
                )
            )
        known = {name: value for name, value in fields.items() if name in _RECORD_FIELDS}
        return WorkflowRecord.model_validate({**known, "steps": steps})

    @redis_calls
    def list(
        self, *, state: WorkflowState | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[WorkflowRecord], str | None]:
        """Workflows newest first, filtered by state; ``(records, next cursor or None)``.

        At most a thousand index entries are read a call: a page may come
        short with a cursor to go on from.
        """
        found: list[WorkflowRecord] = []
        start = index_before(cursor)
        if start is None:
            return found, None
        for _ in range(5):
            batch = yield self.client.xrevrange(self.index_key, max=start, min="-", count=200)
            for entry_id, entry in batch:
                record = yield from self.get.steps(entry[b"id"].decode())
                if record is not None and state in (None, record.state):
                    found.append(record)
                    if len(found) == limit:
                        return found, entry_id.decode()
            if len(batch) < 200:
                return found, None
            start = f"({batch[-1][0].decode()}"
        return found, start[1:]

    @redis_calls
    def tally(self) -> dict[str, int]:
        """How many workflows run now (``running``), and ever ended in each state."""
        tally = yield self.client.hgetall(self.tally_key)
        return {state.decode(): int(count) for state, count in tally.items()}

    def follow(
        self, workflow_id: str, *, after: str = "0-0", block_ms: int, deadline: float
    ) -> Iterator[tuple[str, dict[str, Any]] | None]:
        """Yield the workflow's events as they happen until it ends, or until ``deadline``.

        Yields None each time ``block_ms`` passes quietly (a stream's keep-alive).
        A blocking client's only: each follower holds a connection (the API
        follows workflows with ``services.api.streams``).
        """
        while time.monotonic() < deadline:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            batch = self.events(
                workflow_id, after=after, block_ms=max(1, min(block_ms, remaining_ms))
            )
            if not batch:
                yield None
                continue
            for event_id, event in batch:
                after = event_id
                yield event_id, event
            if self.ended(workflow_id, event_state(batch[-1][1]), after=after):
                return

    @redis_calls
    def events(
        self, workflow_id: str, *, after: str = "0-0", block_ms: int | None = None
    ) -> list[Event]:
        """The workflow's events after the stream id ``after``; with ``block_ms``, waited for."""
        stream = self.jobs.keys.workflow_events(workflow_id)
        return (yield from read_stream(self.client, stream, after, block_ms=block_ms))

    @redis_calls
    def ended(self, workflow_id: str, state: str, *, after: str) -> bool:
        """Whether a workflow in ``state`` has ended with no event after ``after``.

        A retried workflow's history holds an earlier end, and then its new run.
        """
        return state in ENDED and not (yield from self.events.steps(workflow_id, after=after))


#: What a workflow's hash holds of its record (the rest is the scripts').
_RECORD_FIELDS = frozenset(WorkflowRecord.model_fields) - {"steps"}
