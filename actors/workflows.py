"""Running workflows: checking one whole, writing it, cancelling it, running it again.

A workflow (``canvas.py``) is checked step by step before anything is
written: every step must be a valid call of a public job, counting the
argument it will receive from the steps before it. Then one script call
writes the workflow, every step's job (an ordinary job record, "waiting",
linked to its workflow) and the messages of the first steps. From then on
the workflow is moved on inside Redis, by the writes of its steps' jobs
(``storage/lua/workflow.lua``): nothing in Python waits for it, so no process that
dies can leave it hanging.

A step's message is built here, when the workflow is submitted, with a
marker where its parents' results go; the script that releases the step
puts their JSON, as their records keep it, in the marker's place.

Each operation runs on the store's client, as the store's do
(``actors/calls.py``): awaited in the API, blocking in workers and the dashboard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import uuid4

from . import lifecycle
from .broker import Queue
from .calls import Runner, redis_calls
from .canvas import Chain, Group, Plan, PlannedStep, Step, TooManySteps, plan
from .record import JobRecord
from .states import State
from .storage.codecs import NewStep
from .store import BrokerMessage
from .submission import InvalidJob, check, prepare_message
from .workflow_store import RETRYABLE, WorkflowRecord, WorkflowState, WorkflowStore

#: The most bytes of results a step receives from the steps before it, unless told.
MAX_INPUT_BYTES = 1024 * 1024
#: Where a message's timestamp is: the last field dramatiq encodes, written on release.
_TIMESTAMP = '"message_timestamp":'


class InvalidWorkflow(ValueError):
    """A step of the workflow is no valid call of a public job, or the workflow is too large."""


@dataclass(frozen=True)
class Workflows:
    """The workflows of ``queue``: submit, cancel and retry them; ``store`` reads them."""

    queue: Queue
    store: WorkflowStore

    @classmethod
    def of(cls, queue: Queue, *, max_input_bytes: int = MAX_INPUT_BYTES) -> Workflows:
        return cls(queue, WorkflowStore(queue.store, max_input_bytes=max_input_bytes))

    @property
    def run(self) -> Runner:
        """What runs its operations: its store's runner."""
        return self.store.run

    @redis_calls
    def submit(self, workflow: Step | Chain | Group) -> WorkflowRecord:
        """Check the whole workflow, then write it and queue its first steps."""
        steps = self.check(workflow)
        workflow_id = str(uuid4())
        at = lifecycle.now_ms()
        started = WorkflowRecord(
            id=workflow_id, state=WorkflowState.RUNNING, created_at=at, updated_at=at, steps=[]
        )
        fields = {
            **{
                name: str(value)
                for name, value in started.model_dump(exclude={"steps"}, exclude_none=True).items()
            },
            "unfinished": str(len(steps.steps)),
            "output": json.dumps({"parents": steps.output, "gathers": steps.gathers}),
        }
        new_steps, messages = self._new_steps(workflow_id, steps, range(len(steps.steps)))
        yield from self.store.create.steps(workflow_id, fields, new_steps)
        self._enqueued(messages)
        return (yield from self.store.get.steps(workflow_id))

    def check(self, workflow: Step | Chain | Group) -> Plan:
        """The workflow's plan, every step checked; :class:`InvalidWorkflow` if one does not fit."""
        try:
            steps = plan(workflow)
        except TooManySteps as error:
            raise InvalidWorkflow(str(error)) from None
        for planned in steps.steps:
            try:
                if planned.step.options.delay:
                    raise InvalidJob("a step starts when the steps before it end: no delay")
                check(
                    self.queue.specs.get(planned.step.actor),
                    planned.step.request(),
                    received=planned.receives,
                )
            except InvalidJob as error:
                raise InvalidWorkflow(f"{planned.where}: {error}") from None
        return steps

    @redis_calls
    def cancel(self, workflow_id: str) -> tuple[bool, WorkflowState | None]:
        """Cancel a running workflow: every step that has not ended is cancelled with it."""
        return (yield from self.store.cancel.steps(workflow_id))

    @redis_calls
    def retry(self, workflow_id: str) -> tuple[bool, WorkflowState | None]:
        """Run a failed or cancelled workflow again: only its steps that did not succeed.

        Each of those gets a new job (the old ones keep what became of
        them); the steps that succeeded keep theirs, and their results.
        """
        definitions = yield from self.store.definitions.steps(workflow_id)
        if not definitions:
            return False, None
        record = yield from self.store.get.steps(workflow_id)
        if record is None:
            return False, None
        if record.state not in RETRYABLE:
            return False, record.state
        outcomes = yield from self.store.outcomes.steps(workflow_id)
        again = [step for step in sorted(definitions) if outcomes.get(step) != State.SUCCEEDED]
        planned = [
            PlannedStep(
                Step.model_validate(definitions[step]["step"]),
                f"step {step}",
                definitions[step]["parents"],
                definitions[step]["gathers"],
                definitions[step]["children"],
            )
            for step in range(len(definitions))
        ]
        new_steps, messages = self._new_steps(workflow_id, Plan(planned, [], False), again)
        applied, before = yield from self.store.retry.steps(workflow_id, new_steps)
        if applied:
            self._enqueued(messages)
        return applied, before

    def _enqueued(self, messages: list[BrokerMessage]) -> None:
        """Tell the middleware the steps' messages were written (a step's is sent later)."""
        for sent in messages:
            self.queue.broker.enqueued(sent)

    def _new_steps(
        self, workflow_id: str, steps: Plan, numbers
    ) -> tuple[list[NewStep], list[BrokerMessage]]:
        """The steps ``numbers`` of ``steps`` as the scripts write them, and their messages."""
        marker = f"results of the steps before: {uuid4()}"
        new_steps = []
        messages = []
        for number in numbers:
            planned = steps.steps[number]
            definition, record, message = self._step(workflow_id, number, planned, marker)
            messages.append(message)
            new_steps.append(NewStep(number, definition, record))
        return new_steps, messages

    def _step(
        self, workflow_id: str, number: int, planned: PlannedStep, marker: str
    ) -> tuple[dict, JobRecord, BrokerMessage]:
        """A step's definition, as ``storage/lua/workflow.lua`` reads it, its job's first record,
        and its message."""
        request = planned.step.request()
        job_id = str(uuid4())
        sent = prepare_message(self.queue, request, job_id=job_id, args=(marker, *request.args))
        data = sent.data.decode()
        head, tail = data.split(json.dumps(marker))
        tail = tail[: tail.rindex(_TIMESTAMP) + len(_TIMESTAMP)]
        record = lifecycle.wait_for_parents(
            request, job_id=job_id, queue=sent.queue_name, workflow_id=workflow_id, step=number
        )
        definition = {
            "job": job_id,
            "step": planned.step.model_dump(mode="json"),
            "parents": planned.parents,
            "children": planned.children,
            "gathers": planned.gathers,
            "receives": planned.receives,
            "on_failure": planned.step.on_failure.value,
            "sent_to": sent.queue_key,
            "message_id": sent.redis_message_id,
            "head": head,
            "tail": tail,
            # The arguments as the record keeps them, after the "[" the results follow.
            "given": json.dumps(request.args, separators=(",", ":"))[1:],
        }
        return definition, record, sent
