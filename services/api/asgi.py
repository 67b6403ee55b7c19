"""What gunicorn serves: ``gunicorn -k services.api.server.Worker services.api.asgi:app``."""

import logging
import resource

from services.collector import collect_rarely
from services.settings import load_settings

from .app import create_app


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

collect_rarely()
