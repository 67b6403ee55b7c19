"""What a workflow is made of: steps, chains and groups, and the DAG they make.

A workflow is written as a tree, over HTTP as JSON and in Python with
:func:`chain`, :func:`group` and a job's ``.s()``::

    chain(add.s(1, 2), group(add.s(10), add.s(20)), total.s())

and run as a DAG (:func:`plan`): each step waits for the steps before it.
A step that follows one step receives its result as its first argument; one
that follows a group receives the list of the group's results, in the
group's order (a member that is a chain gives its last result). ``.si()``
(``"receives": false``) makes a step that receives nothing. Nothing here
talks to Redis; ``workflows.py`` checks a plan and writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from .job_request import JobOptions, JobRequest

#: The most steps one workflow may have.
MAX_STEPS = 1000


class OnFailure(StrEnum):
    """What a step that does not succeed (failed, dead or cancelled) does to its workflow."""

    #: The workflow fails, and every step that has not ended is cancelled.
    FAIL = "fail"
    #: The workflow goes on; the steps after it receive null for its result.
    IGNORE = "ignore"
    #: The workflow goes on; the steps after it receive the other results without
    #: it (a step that follows it alone receives nothing in front of its arguments).
    CONTINUE = "continue"


class Step(BaseModel):
    """One job of a workflow: a job request, and how it takes part."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    actor: str = Field(description="A public job; its arguments must fit its signature.")
    args: list[Any] = Field(default_factory=list, max_length=100)
    kwargs: dict[str, Any] = Field(default_factory=dict, max_length=100)
    options: JobOptions = Field(default_factory=JobOptions)
    on_failure: OnFailure = Field(
        OnFailure.FAIL,
        strict=False,  # from JSON, the enum's value
        description="What the step's failure does to its workflow.",
    )
    receives: bool = Field(
        True,
        description="Whether the step receives the results of the steps before it"
        " in front of its arguments.",
    )

    def request(self) -> JobRequest:
        return JobRequest(
            actor=self.actor, args=self.args, kwargs=self.kwargs, options=self.options
        )

    def using(self, **options: Any) -> Step:
        """This step, with other options: ``add.s(1).using(max_retries=0, priority="high")``."""
        return self.model_copy(update=dict(options=self.options.model_copy(update=options)))

    def on(self, on_failure: OnFailure | str) -> Step:
        """This step, with another failure policy: ``add.s(1).on("ignore")``."""
        return self.model_copy(update={"on_failure": OnFailure(on_failure)})


class Chain(BaseModel):
    """Nodes one after the other: each waits for the one before it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    chain: list[Node] = Field(min_length=1, max_length=MAX_STEPS)


class Group(BaseModel):
    """Nodes side by side: they start together; what follows waits for them all."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    group: list[Node] = Field(min_length=1, max_length=MAX_STEPS)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "chain" if "chain" in value else "group" if "group" in value else "step"
    return {Chain: "chain", Group: "group"}.get(type(value), "step")


Node = Annotated[
    Annotated[Step, Tag("step")] | Annotated[Chain, Tag("chain")] | Annotated[Group, Tag("group")],
    Discriminator(_kind),
]
Chain.model_rebuild()
Group.model_rebuild()


class WorkflowRequest(BaseModel):
    """A workflow to run: the body of POST /workflows."""

    model_config = ConfigDict(extra="forbid", strict=True)

    workflow: Node


def chain(*nodes: Step | Chain | Group) -> Chain:
    return Chain(chain=list(nodes))


def group(*nodes: Step | Chain | Group) -> Group:
    return Group(group=list(nodes))


def signature(actor: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, receives: bool) -> Step:
    """A step running the job ``actor``: what a job's ``.s()`` and ``.si()`` return."""
    return Step(actor=actor, args=list(args), kwargs=kwargs, receives=receives)


# The DAG ------------------------------------------------------------------------


@dataclass
class PlannedStep:
    """A step in its place: the steps it waits for and those that wait for it.

    ``gathers``: its parents are a group's, whose results it takes as a list.
    ``where``: its place in the request, for errors (``workflow/chain/1``).
    """

    step: Step
    where: str
    parents: list[int]
    gathers: bool
    children: list[int] = field(default_factory=list)

    @property
    def receives(self) -> bool:
        return self.step.receives and bool(self.parents)


@dataclass(frozen=True)
class Plan:
    """The steps of a workflow, in order, and whose results are its result."""

    steps: list[PlannedStep]
    output: list[int]
    gathers: bool


#: Where a step is, in errors: from the request's field (``workflow/chain/1``).
_ROOT = next(iter(WorkflowRequest.model_fields))


class TooManySteps(ValueError):
    """A workflow with more than :data:`MAX_STEPS` steps."""


def plan(node: Step | Chain | Group) -> Plan:
    """The DAG ``node`` describes, steps numbered in the order they are written."""
    steps: list[PlannedStep] = []
    output, gathers = _place(node, _ROOT, [], False, steps)
    return Plan(steps, output, gathers)


def _place(
    node: Step | Chain | Group,
    where: str,
    parents: list[int],
    gathers: bool,
    steps: list[PlannedStep],
) -> tuple[list[int], bool]:
    """Add ``node`` after ``parents``; return its last steps and whether they are a group's."""
    if isinstance(node, Step):
        if len(steps) == MAX_STEPS:
            raise TooManySteps(f"a workflow has at most {MAX_STEPS} steps")
        number = len(steps)
        steps.append(PlannedStep(node, where, list(parents), gathers))
        for parent in parents:
            steps[parent].children.append(number)
        return [number], False
    if isinstance(node, Chain):
        for index, member in enumerate(node.chain):
            parents, gathers = _place(member, f"{where}/chain/{index}", parents, gathers, steps)
        return parents, gathers
    last: list[int] = []
    for index, member in enumerate(node.group):
        ends, _ = _place(member, f"{where}/group/{index}", parents, gathers, steps)
        last += ends
    return last, True
