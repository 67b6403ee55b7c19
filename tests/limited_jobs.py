"""Jobs with limits, for the tests of limits (a queue built with this module in ``job_modules``)."""

import time

from actors import job

#: How many ``hog`` jobs run at once, and ``trickle`` jobs start a second.
HOGS_AT_ONCE, TRICKLES_PER_SECOND = 2, 5


@job(public=True, concurrency=HOGS_AT_ONCE, max_retries=0)
def hog(seconds: float = 1.0) -> float:
    """Hold a worker thread for ``seconds``; only two run at once, wherever they run."""
    time.sleep(seconds)
    return seconds


@job(public=True, rate=f"{TRICKLES_PER_SECOND}/s", max_retries=0)
def trickle() -> None:
    """Do nothing, at most five times a second."""
