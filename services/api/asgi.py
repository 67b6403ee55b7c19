"""What gunicorn serves: ``gunicorn -k services.api.server.Worker services.api.asgi:app``."""

import gc
import logging
import resource

from services.settings import load_settings

from .app import create_app

#: Allocations between two collections of the youngest generation (Python's default: 700):
#: above what a batch of the most jobs holds at once (some 30,000 objects), several times over.
GC_THRESHOLD = 100_000


def allow_open_files() -> None:
    """Raise this process's limit of open files to the most it may have.

    Each long-lived request holds a connection, a file descriptor, for as
    long as it lasts; STREAM_SLOTS of them must fit under the limit, whose
    usual soft value (1,024) is far below what a process may ask for.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


allow_open_files()
settings = load_settings()
logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
app = create_app(settings)

# A batch of jobs allocates many short-lived objects, next to none in
# reference cycles: at the default threshold the collector runs many times a
# batch, now and then a full pass over every object that makes up the app.
# The app lives as long as the process, so no collection needs to look at it
# again (freeze), and above the threshold a batch's objects are freed, when it
# is answered, before a collection would have looked at them.
gc.freeze()
gc.set_threshold(GC_THRESHOLD)
