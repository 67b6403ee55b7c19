"""prometheus-client's multiprocess mode: one registry across the processes of an instance.

gunicorn and dramatiq run several processes per API instance or worker. In
multiprocess mode each keeps its metrics in files under one directory, and
whichever process is scraped reads them all.

``python -m services.metrics.multiprocess DIR COMMAND...`` empties ``DIR`` (a
restarted instance counts from zero, as Prometheus expects of a restart),
names it in ``PROMETHEUS_MULTIPROC_DIR``, where prometheus-client looks for it,
and runs ``COMMAND`` in its place, so that signals reach it directly. The
directories of instances that stopped are removed then too.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from services.settings import multiprocess_metrics_dir

#: Where instances keep their metrics files, a directory each.
BASE_DIR = Path(tempfile.gettempdir()) / "jobqueue-metrics"
#: In each directory: the pid of the instance's leader, so that a later start
#: can tell a stopped instance's directory from a running one's.
LEADER_FILE = "leader.pid"


def command(instance: str, argv: list[str]) -> list[str]:
    """``argv``, run with a directory of metrics files for ``instance`` (unique on the host)."""
    return [sys.executable, "-m", "services.metrics.multiprocess", str(BASE_DIR / instance), *argv]


def registry() -> CollectorRegistry:
    """What a scrape of this process reports: every process of its instance, if it has siblings."""
    directory = multiprocess_metrics_dir()
    if directory is None:
        return REGISTRY
    collected = CollectorRegistry()
    MultiProcessCollector(collected, path=directory)
    return collected


def prune(base: Path) -> None:
    """Remove the directories of instances that are gone: their leader no longer runs.

    Only directories with a leader file, which :func:`main` writes, are ever
    removed; one is left alone for its first minute, while its instance starts.
    """
    for leader in base.glob(f"*/{LEADER_FILE}"):
        directory = leader.parent
        try:
            if time.time() - directory.stat().st_mtime < 60:
                continue
            os.kill(int(leader.read_text()), 0)
        except (ProcessLookupError, ValueError):
            _remove(directory)
        except OSError:
            # Gone meanwhile, or a live process of another user: not ours to remove.
            continue


def _remove(directory: Path) -> None:
    """Remove ``directory`` at once for anyone looking: renamed first, then emptied.

    An instance starting on the same path meanwhile would otherwise find it
    half removed, its leader file gone and metrics files left, and refuse it.
    """
    removed = directory.with_name(f".removed-{directory.name}-{os.getpid()}")
    try:
        directory.rename(removed)
    except OSError:
        return
    shutil.rmtree(removed, ignore_errors=True)


def main(argv: list[str]) -> None:
    directory, *command = argv
    path = Path(directory)
    if path.is_dir() and any(path.iterdir()) and not (path / LEADER_FILE).is_file():
        sys.exit(f"{directory} holds files other than an instance's metrics: choose another")
    prune(path.parent)
    _remove(path)
    os.makedirs(directory)
    # This process becomes the instance's leader: exec keeps its pid.
    (path / LEADER_FILE).write_text(str(os.getpid()))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
