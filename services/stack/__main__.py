"""``python -m services.stack up|down|compose-up``: run the stack in the foreground, or stop it.

``compose-up`` runs it on Docker instead (see :mod:`.compose`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from services.settings import SettingsError, load_settings

from . import compose
from .stack import PROJECT_DIR, Stack, welcome
from .supervisor import StackError

RUN_DIR = PROJECT_DIR / ".run"
PID_FILE = RUN_DIR / "stack.pid"


def up() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    stack = Stack(settings, RUN_DIR)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        stack.start()
    except (StackError, OSError) as error:
        print(f"the stack did not start: {error}", file=sys.stderr)
        return 1
    PID_FILE.write_text(str(os.getpid()))
    say = stack.supervisor.say
    for line in welcome(stack.url, stack.settings):
        say("stack", line)
    try:
        # The supervisor restarts what exits: only make down or Ctrl-C end the stack.
        while not stopping.wait(1):
            pass
    finally:
        stack.stop()
        PID_FILE.unlink(missing_ok=True)
    return 0


def down() -> int:
    try:
        pid = int(PID_FILE.read_text())
    except (FileNotFoundError, ValueError):
        print("the stack is not running")
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        PID_FILE.unlink(missing_ok=True)
        print("the stack is not running")
        return 0
    print("stopping the stack; running jobs finish first")
    while PID_FILE.exists():
        time.sleep(0.2)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "compose-up"])
    args = parser.parse_args()
    return {"up": up, "down": down, "compose-up": compose.up}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
