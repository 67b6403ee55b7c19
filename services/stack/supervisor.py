"""Running a set of processes together, the way ``make up`` needs.

Each child runs in a session of its own and, when the stack stops, gets one
SIGTERM, sent to it alone. That matters for dramatiq: its main process
forwards the signal to its worker processes, which finish the jobs in hand
and put prefetched ones back on the queue. Signalling the whole process group
as well (what honcho does) makes them exit mid-job.
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
    pass


class Supervisor:
    """Starts processes in order, waits for each to be ready, stops them in reverse."""

    def __init__(self, *, cwd: Path, log: TextIO = sys.stdout, base_env: dict[str, str]):
        self.cwd = cwd
        self.log = log
        self.base_env = base_env
        self.specs: dict[str, ProcessSpec] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self._log_lock = threading.Lock()
        self._width = 10

    def start(self, spec: ProcessSpec, *, ready_timeout: float = 60) -> None:
        self._width = max(self._width, len(spec.name))
        process = subprocess.Popen(
            spec.argv,
            cwd=self.cwd,
            env={**self.base_env, **spec.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.specs[spec.name] = spec
        self.processes[spec.name] = process
        threading.Thread(
            target=self._relay, args=(spec.name, process), name=f"log-{spec.name}", daemon=True
        ).start()
        self._wait_ready(spec, process, ready_timeout)

    def say(self, name: str, line: str) -> None:
        with self._log_lock:
            self.log.write(f"{name.ljust(self._width)} | {line}\n")
            self.log.flush()

    def _relay(self, name: str, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.say(name, raw.decode(errors="replace").rstrip())

    def _wait_ready(self, spec: ProcessSpec, process: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"{spec.name} exited with status {process.returncode}")
            if _ready(spec):
                return
            time.sleep(0.05)
        raise StackError(f"{spec.name} was not ready within {timeout:.0f} s")

    def exited(self) -> list[str]:
        """Names of the processes that are no longer running."""
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything it started, as a crash would."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        """SIGTERM each process once, in reverse start order, and wait for it."""
        for name in reversed(self.processes):
            process = self.processes[name]
            if process.poll() is not None:
                continue
            self.say("stack", f"stopping {name}")
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.specs[name].stop_timeout)
            except subprocess.TimeoutExpired:
                self.say("stack", f"{name} did not stop in time; killing it")
                self.kill(name)
            else:
                # Anything it started and left behind goes too.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)


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
