"""A module of jobs that only the queue built with it in ``job_modules`` knows."""

from actors import job


@job(public=True, queue="reports")
def tally(numbers: list) -> int:
    """Sum a list of numbers."""
    return sum(numbers)


@job(queue="reports")
def purge_reports(days: int) -> None:
    """Housekeeping no client may start."""
