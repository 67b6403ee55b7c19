"""A module of jobs that only the queue built with it in ``job_modules`` knows."""

import warnings

from actors import job
from actors.bounds import UnboundedParameter

# The tests send tally nested values of every kind: it takes any JSON on purpose.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UnboundedParameter)

    @job(public=True, queue="reports")
    def tally(numbers: list) -> int:
        """Sum a list of numbers."""
        return sum(numbers)


@job(queue="reports")
def purge_reports(days: int) -> None:
    """Housekeeping no client may start."""
