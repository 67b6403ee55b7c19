"""``python -m services.stack up|down|compose-up``: run the stack in the foreground, or stop it.

``compose-up`` runs it on Docker instead (see :mod:`.compose`). ``down``
stops whichever runs (``--mode`` names one). ``--run-dir`` is where the local
stack keeps its state, its log and the admin password (``.run/``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from services.settings import SettingsError, load_settings

from . import compose, running
from .stack import PROJECT_DIR, RUN_DIR, Stack, lb_url, welcome
from .supervisor import StackError

#: The local stack's log, under the run directory: what ``make logs`` follows.
LOG_FILE = "stack.log"


class Tee:
    """Writes to each of ``streams``: the terminal, and the file ``make logs`` follows."""

    def __init__(self, *streams: TextIO):
        self.streams = streams

    def write(self, text: str) -> None:
        for stream in self.streams:
            stream.write(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def up(run_dir: Path) -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    already = running.already_running(
        run_dir, PROJECT_DIR, lb_url(settings.lb_host, settings.lb_port)
    )
    if already:
        print(already, file=sys.stderr)
        return 1
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / LOG_FILE).open("w", buffering=1) as log:
        return _run(Stack(settings, run_dir, log=Tee(sys.stdout, log)), run_dir)


def _run(stack: Stack, run_dir: Path) -> int:
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        stack.start()
    except (StackError, OSError) as error:
        print(f"the stack did not start: {error}", file=sys.stderr)
        return 1
    running.record(run_dir, stack.url)
    for line in welcome(stack.url, stack.settings):
        stack.supervisor.say("stack", line)
    try:
        # The supervisor restarts what exits: only make down or Ctrl-C end the stack.
        while not stopping.wait(1):
            pass
    finally:
        stack.stop()
        running.forget(run_dir)
    return 0


def down(run_dir: Path, mode: str) -> int:
    stopped = False
    state = running.local(run_dir) if mode in ("any", "local") else None
    if state is not None:
        print(f"stopping the local stack at {state['url']}/; running jobs finish first")
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(state["pid"]), signal.SIGTERM)
        while running.local(run_dir) is not None:
            time.sleep(0.2)
        stopped = True
    if mode == "compose" or (mode == "any" and running.compose_running(PROJECT_DIR)):
        print("stopping the compose stack; running jobs finish first")
        compose.down()
        stopped = True
    if not stopped:
        print("the stack is not running")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "compose-up"])
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR)
    parser.add_argument(
        "--mode",
        choices=["any", "local", "compose"],
        default="any",
        help="down: the stack to stop (default: whichever runs)",
    )
    args = parser.parse_args()
    if args.command == "up":
        return up(args.run_dir)
    if args.command == "down":
        return down(args.run_dir, args.mode)
    return compose.up(args.run_dir)


if __name__ == "__main__":
    sys.exit(main())
