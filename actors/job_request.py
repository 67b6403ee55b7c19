"""What a client asks to run: one job, its arguments, and how it runs.

The API validates its request bodies with these models and publishes them
in its OpenAPI document; schedules and workflows hold them for the jobs they
submit later.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from .lanes import DEFAULT_PRIORITY, PRIORITIES

#: Longest delay dramatiq's Redis broker accepts: 7 days, in seconds.
MAX_DELAY_SECONDS = 7 * 24 * 3600


class JobOptions(BaseModel):
    """How one job runs, beyond what its declaration says.

    Frozen: a request that gives none shares :data:`DEFAULT_OPTIONS`, rather
    than validating a new one each.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    delay: float = Field(
        0, ge=0, le=MAX_DELAY_SECONDS, description="Seconds to wait before the job may start."
    )
    # Absent, not null, in a request: None stands for "as the job is declared".
    max_retries: Annotated[int, Field(ge=0, le=100)] | SkipJsonSchema[None] = Field(
        None, description="How many times a failing job is retried before it is dead."
    )
    time_limit: Annotated[float, Field(gt=0, le=86400)] | SkipJsonSchema[None] = Field(
        None, description="Seconds one attempt may run before it is interrupted."
    )
    priority: Literal[tuple(PRIORITIES)] = Field(  # type: ignore[valid-type]
        DEFAULT_PRIORITY,
        description=(
            "The lane the job waits in. Each lane is a queue of its own: a high job "
            "never waits behind a backlog of normal ones, and a worker with a free "
            "thread takes high before normal before low."
        ),
    )

    def declared(self) -> dict[str, Any]:
        """These options as a request gives them: without those left to the job's declaration."""
        return self.model_dump(exclude_none=True)


#: The options of a request that gives none.
DEFAULT_OPTIONS = JobOptions()


class JobRequest(BaseModel):
    """A request to run one job: which, with what arguments, and how."""

    model_config = ConfigDict(extra="forbid", strict=True)

    actor: str = Field(description="A public job; its arguments must fit its signature.")
    args: list[Any] = Field(default_factory=list, max_length=100)
    kwargs: dict[str, Any] = Field(default_factory=dict, max_length=100)
    options: JobOptions = Field(default_factory=lambda: DEFAULT_OPTIONS)
