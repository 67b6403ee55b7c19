"""The metrics launcher: a fresh directory per instance start, and none left by stopped ones."""

from __future__ import annotations

import os
import subprocess
import sys

from services.metrics import multiprocess


def test_an_instance_starts_with_an_empty_directory_named_in_its_environment(tmp_path):
    directory = tmp_path / "api-3000"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"counts of a previous run")
    shown = "import os; d = os.environ['PROMETHEUS_MULTIPROC_DIR']; print(d, sorted(os.listdir(d)))"

    ran = subprocess.run(
        [
            *(sys.executable, "-m", "services.metrics.multiprocess", str(directory)),
            *(sys.executable, "-c", shown),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert ran.stdout.split(" ", 1) == [str(directory), "['leader.pid']\n"]


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

    multiprocess.prune(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["running", "starting"]
