"""A job that fails after a while, for the tests of what a full Redis does to retries."""

import time

from actors import job


@job(public=True, max_retries=1, min_backoff=100, max_backoff=100)
def fail_after(seconds: float = 1.0) -> None:
    """Fail once ``seconds`` have passed; retried once."""
    time.sleep(seconds)
    raise RuntimeError(f"failed after {seconds} s")
