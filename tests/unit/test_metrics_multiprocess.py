"""The metrics launcher: a fresh directory per instance start, and none left by stopped ones."""

from __future__ import annotations

import os
import subprocess
import sys

from services.metrics import multiprocess


def test_an_instance_starts_with_an_empty_directory_named_in_its_environment(tmp_path):
    directory = tmp_path / "api-3000"
    directory.mkdir()
    (directory / multiprocess.LEADER_FILE).write_text("1")
    (directory / "counter_123.db").write_bytes(b"counts of a previous run")
    shown = "import os; d = os.environ['PROMETHEUS_MULTIPROC_DIR']; print(d, sorted(os.listdir(d)))"

    ran = launch(directory, sys.executable, "-c", shown)

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split(" ", 1) == [str(directory), "['leader.pid']\n"]


def launch(directory, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.metrics.multiprocess", str(directory), *command],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_directory_that_is_not_an_instances_is_refused_and_left_as_it_is(tmp_path):
    (tmp_path / "notes.txt").write_text("someone's")
    old = tmp_path / "old-work"
    old.mkdir()
    os.utime(old, (0, 0))

    ran = launch(tmp_path, sys.executable, "-c", "print('ran')")
    (tmp_path / "metrics").mkdir()
    beside = launch(tmp_path / "metrics", sys.executable, "-c", "print('ran')")

    assert ran.returncode != 0 and "ran" not in ran.stdout
    assert "holds files other than an instance's metrics" in ran.stderr
    # Started beside them, an instance removes no directory it did not make.
    assert beside.stdout == "ran\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics", "notes.txt", "old-work"]


def test_directories_of_stopped_instances_are_removed_and_running_ones_kept(tmp_path):
    stopped, running, starting = (tmp_path / name for name in ("stopped", "running", "starting"))
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    for directory, leader in ((stopped, finished.stdout.strip()), (running, str(os.getpid()))):
        directory.mkdir()
        (directory / multiprocess.LEADER_FILE).write_text(leader)
        os.utime(directory, (0, 0))
    starting.mkdir()
    (starting / multiprocess.LEADER_FILE).write_text(finished.stdout.strip())

    multiprocess.prune(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["running", "starting"]


def test_a_forked_process_counts_in_files_of_its_own_and_no_count_is_lost(tmp_path):
    counted = """
import os
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from services.metrics.api import REQUESTS

REQUESTS.labels("/", "GET", "200").inc()
child = os.fork()
if child == 0:
    REQUESTS.labels("/", "GET", "200").inc(2)
    os._exit(0)
os.waitpid(child, 0)
REQUESTS.labels("/", "GET", "200").inc()
registry = CollectorRegistry()
MultiProcessCollector(registry)
print(registry.get_sample_value(
    "jobqueue_http_requests_total", {"route": "/", "method": "GET", "status": "200"}
))
print(sorted(name for name in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
             if name.startswith("counter_")) == sorted([f"counter_{os.getpid()}.db",
                                                        f"counter_{child}.db"]))
"""
    ran = launch(tmp_path / "api-3000", sys.executable, "-c", counted)

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["4.0", "True"]
