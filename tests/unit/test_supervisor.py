"""The local stack's supervisor: restarts what exits, and leaves nothing behind when it stops.

Real (tiny) processes: Python scripts that crash, fork, and ignore signals.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from services.stack.supervisor import (
    ProcessSpec,
    RestartPolicy,
    StackError,
    Supervisor,
    group_members,
)
from tests.support import wait_for


def test_the_restart_delay_doubles_up_to_the_cap():
    policy = RestartPolicy(first_delay=0.5, max_delay=30)

    assert [policy.delay(exits) for exits in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_a_process_that_stayed_up_starts_the_count_afresh():
    policy = RestartPolicy(stable_after=10)

    assert policy.exits_in_a_row(previous=5, uptime=0.2) == 6
    assert policy.exits_in_a_row(previous=5, uptime=10) == 1
    assert policy.exits_in_a_row(previous=0, uptime=0.2) == 1


def script(directory: Path, name: str, source: str) -> list[str]:
    """A command running ``source`` (a Python script written to ``directory``)."""
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return [sys.executable, str(path)]


@pytest.fixture
def supervisor(tmp_path):
    supervisor = Supervisor(
        cwd=tmp_path,
        log=io.StringIO(),
        base_env={},
        restart=RestartPolicy(first_delay=0.05, max_delay=0.2),
    )
    yield supervisor
    supervisor.stop()


def test_a_process_that_exits_is_started_again_and_each_exit_is_logged(supervisor, tmp_path):
    runs = tmp_path / "runs"
    crasher = script(
        tmp_path,
        "crasher",
        f"""
        import pathlib, sys, time
        runs = pathlib.Path({str(runs)!r})
        with runs.open("a") as file:
            file.write("run\\n")
        if len(runs.read_text().split()) < 4:
            time.sleep(0.2)
            sys.exit(3)
        time.sleep(1000)
        """,
    )

    supervisor.start(ProcessSpec(name="crasher", argv=crasher))

    wait_for(lambda: runs.exists() and len(runs.read_text().split()) == 4, what="four runs")
    log = supervisor.log.getvalue()
    assert log.count("crasher exited with status 3 after") == 3
    for exits in (1, 2, 3):
        assert f"({exits} in a row); starting it again in" in log
    assert supervisor.processes["crasher"].poll() is None


def test_stopping_kills_what_a_dead_leader_left_behind(supervisor, tmp_path):
    child_pid = tmp_path / "child.pid"
    # A child that ignores SIGTERM, in its leader's process group; it says so once it does.
    stubborn = script(
        tmp_path,
        "stubborn",
        f"""
        import os, pathlib, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pathlib.Path({str(child_pid)!r}).write_text(str(os.getpid()))
        time.sleep(1000)
        """,
    )
    leader = script(
        tmp_path,
        "leader",
        f"""
        import subprocess, time
        subprocess.Popen({stubborn!r})
        time.sleep(1000)
        """,
    )
    supervisor.start(ProcessSpec(name="leader", argv=leader, stop_timeout=0.5))
    wait_for(child_pid.exists, what="the child")
    first_group = supervisor.processes["leader"].pid
    orphan = int(child_pid.read_text())
    assert orphan in group_members(first_group)

    # The leader dies; the supervisor starts another; the orphan lives on.
    child_pid.unlink()
    os.kill(first_group, signal.SIGKILL)
    wait_for(child_pid.exists, what="the restarted leader's child")
    assert group_members(first_group) == [orphan]

    supervisor.stop()

    groups = supervisor.groups["leader"]
    assert len(groups) == 2
    assert [group_members(group) for group in groups] == [[], []]


def test_a_stopping_process_gets_one_sigterm_and_its_child_none_from_the_supervisor(
    supervisor, tmp_path
):
    received = tmp_path / "received"
    ready = tmp_path / "ready"
    # A leader that forwards SIGTERM to its child and waits for it, as dramatiq's does.
    child = script(
        tmp_path,
        "child",
        f"""
        import pathlib, signal, sys, time
        def note(*_):
            with open({str(received)!r}, "a") as file:
                file.write("child\\n")
            time.sleep(0.3)
            sys.exit(0)
        signal.signal(signal.SIGTERM, note)
        pathlib.Path({str(ready)!r}).touch()
        time.sleep(1000)
        """,
    )
    leader = script(
        tmp_path,
        "leader",
        f"""
        import signal, subprocess, sys, time
        child = subprocess.Popen({child!r})
        def forward(*_):
            with open({str(received)!r}, "a") as file:
                file.write("leader\\n")
            child.terminate()
            child.wait()
            sys.exit(0)
        signal.signal(signal.SIGTERM, forward)
        time.sleep(1000)
        """,
    )
    supervisor.start(ProcessSpec(name="leader", argv=leader, stop_timeout=10))
    wait_for(ready.exists, what="the child")

    supervisor.stop()

    assert received.read_text().splitlines() == ["leader", "child"]
    assert "exited with status" not in supervisor.log.getvalue()


def test_a_process_that_cannot_start_is_named_with_the_last_line_it_printed(supervisor, tmp_path):
    failing = script(
        tmp_path,
        "failing",
        """
        import sys
        print("starting on port 3000", flush=True)
        sys.exit("port 3000 is in use")
        """,
    )

    with pytest.raises(StackError, match=r"^failing exited with status 1: port 3000 is in use$"):
        supervisor.start(ProcessSpec("failing", failing, ready_port=1))
