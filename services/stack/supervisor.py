"""Running a set of processes together, the way ``make up`` needs.

Like compose's ``restart: unless-stopped``, a process that exits while the
stack runs is started again, after a delay that doubles with each exit in a
row (:class:`RestartPolicy`); every exit is logged. Only :meth:`Supervisor.stop`
ends the stack.

Each child runs in a session (and process group) of its own and, when the
stack stops, gets one SIGTERM, sent to it alone. That matters for dramatiq:
its main process forwards the signal to its worker processes, which finish
the jobs in hand and put prefetched ones back on the queue. Signalling the
whole process group as well (what honcho does) makes them exit mid-job. What
is left of a group once its leader has exited (a dramatiq worker process
whose main process was killed) gets one SIGTERM too, then SIGKILL: no
process the stack started outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    #: Ready when this URL answers 200.
    ready_url: str | None = None
    #: Ready when this TCP port accepts connections.
    ready_port: int | None = None
    #: Seconds between SIGTERM and SIGKILL.
    stop_timeout: float = 15.0


class StackError(RuntimeError):
    """The stack cannot start; the message says why and what to do, in one line."""


@dataclass
class RestartPolicy:
    """How long to wait before starting an exited process again.

    Parameters:
      first_delay: The wait after an exit, in seconds.
      max_delay: The longest wait: the delay doubles with each exit in a row up to this.
      stable_after: A process that ran this long before exiting starts the count afresh.
    """

    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 10.0

    def delay(self, exits_in_a_row: int) -> float:
        """The wait before the next start, ``exits_in_a_row`` (1 or more) exits into a loop."""
        return min(self.first_delay * 2 ** (exits_in_a_row - 1), self.max_delay)

    def exits_in_a_row(self, previous: int, uptime: float) -> int:
        """The count after an exit ``uptime`` seconds after the start; ``previous`` before it."""
        return 1 if uptime >= self.stable_after else previous + 1


class Supervisor:
    """Starts processes in order, each once ready; restarts them; stops them in reverse."""

    def __init__(
        self,
        *,
        cwd: Path,
        log: TextIO = sys.stdout,
        base_env: dict[str, str],
        restart: RestartPolicy | None = None,
    ):
        self.cwd = cwd
        self.log = log
        self.base_env = base_env
        self.restart = restart or RestartPolicy()
        self.specs: dict[str, ProcessSpec] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        #: Every process group started for each name, restarts included (a group's id is
        #: the pid of the process that leads it).
        self.groups: dict[str, list[int]] = {}
        #: Groups that got their one SIGTERM.
        self._terminated: set[int] = set()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._width = 10
        #: The last line each process printed, which says why one that exits at start failed.
        self._last_words: dict[str, str] = {}
        self._relays: dict[str, threading.Thread] = {}

    def start(self, spec: ProcessSpec, *, ready_timeout: float = 60) -> None:
        """Start ``spec`` and wait until it is ready; from then on, restart it whenever it exits."""
        self._width = max(self._width, len(spec.name))
        self.specs[spec.name] = spec
        process = self._spawn(spec)
        self._wait_ready(spec, process, ready_timeout)
        threading.Thread(
            target=self._watch, args=(spec,), name=f"watch-{spec.name}", daemon=True
        ).start()

    def say(self, name: str, line: str) -> None:
        with self._log_lock:
            self.log.write(f"{name.ljust(self._width)} | {line}\n")
            self.log.flush()

    def _spawn(self, spec: ProcessSpec) -> subprocess.Popen:
        process = subprocess.Popen(
            spec.argv,
            cwd=self.cwd,
            env={**self.base_env, **spec.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[spec.name] = process
        self.groups.setdefault(spec.name, []).append(process.pid)
        relay = threading.Thread(
            target=self._relay, args=(spec.name, process), name=f"log-{spec.name}", daemon=True
        )
        relay.start()
        self._relays[spec.name] = relay
        return process

    def _relay(self, name: str, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.say(name, line)
            if line:
                self._last_words[name] = line

    def _wait_ready(self, spec: ProcessSpec, process: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                # Its output may still be on its way: the relay ends with the pipe.
                self._relays[spec.name].join(timeout=2)
                last_words = self._last_words.get(spec.name, "it printed nothing")
                raise StackError(
                    f"{spec.name} exited with status {process.returncode}: {last_words}"
                )
            if _ready(spec):
                return
            time.sleep(0.05)
        raise StackError(f"{spec.name} was not ready within {timeout:.0f} s")

    def _watch(self, spec: ProcessSpec) -> None:
        """Start ``spec`` again each time it exits, until the stack stops."""
        exits = 0
        while True:
            process = self.processes[spec.name]
            started = time.monotonic()
            status = process.wait()
            if self._stopping.is_set():
                return
            uptime = time.monotonic() - started
            exits = self.restart.exits_in_a_row(exits, uptime)
            delay = self.restart.delay(exits)
            self.say(
                "stack",
                f"{spec.name} exited with status {status} after {uptime:.1f} s "
                f"({exits} in a row); starting it again in {delay:.1f} s",
            )
            # What it started and left behind stops as it would with the stack.
            self._terminate_leftovers(process.pid)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn(spec)

    def _terminate_leftovers(self, group: int) -> None:
        """One SIGTERM to what is left of a group whose leader has exited."""
        if group not in self._terminated and group_members(group):
            self._terminated.add(group)
            _signal_group(group, signal.SIGTERM)

    def stop(self) -> None:
        """Stop every process in reverse start order, and everything each one started.

        A running process gets one SIGTERM, to itself alone; what a dead one
        left behind in its group gets one SIGTERM (unless it got it when the
        process died); whatever still runs in any group the process ever led
        when its stop timeout is over gets SIGKILL.
        """
        with self._lock:
            self._stopping.set()
        for name in reversed(self.processes):
            process = self.processes[name]
            deadline = time.monotonic() + self.specs[name].stop_timeout
            if process.poll() is None:
                self.say("stack", f"stopping {name}")
                self._terminated.add(process.pid)
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(self.specs[name].stop_timeout)
                except subprocess.TimeoutExpired:
                    self.say("stack", f"{name} did not stop in time; killing it")
            self._end_groups(name, deadline)
            process.wait()

    def _end_groups(self, name: str, deadline: float) -> None:
        groups = self.groups[name]
        for group in groups:
            self._terminate_leftovers(group)
        _wait_empty(groups, deadline)
        for group in groups:
            if group_members(group):
                self.say("stack", f"killing what is left of {name} (process group {group})")
                _signal_group(group, signal.SIGKILL)
        # SIGKILL takes effect a moment later: return once nothing runs.
        _wait_empty(groups, time.monotonic() + 5)


def group_members(group: int) -> list[int]:
    """The pids of the live processes (zombies aside) in process group ``group``, from /proc."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]
        if int(pgrp) == group and state != "Z":
            members.append(int(entry.name))
    return members


def _wait_empty(groups: list[int], deadline: float) -> None:
    while any(map(group_members, groups)) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _ready(spec: ProcessSpec) -> bool:
    if spec.ready_url is not None:
        return http_ok(spec.ready_url)
    if spec.ready_port is not None:
        return port_open(spec.ready_port)
    return True


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise StackError(f"timed out waiting for {what}")
