"""CPU time spent by whole process trees, read from ``/proc``.

Every process of the local stack runs in a session of its own (see
``services.stack.supervisor``), so a session id names a service together
with everything it started: gunicorn's workers, dramatiq's worker processes.
Summing ``utime + stime`` (and ``cutime + cstime`` for children already
reaped) over a session gives what that service cost the machine, whatever
else runs on it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping

#: Kernel clock ticks per second, the unit of the CPU fields in /proc/<pid>/stat.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: The part of a session's processes that no part of :func:`part_cpu_seconds` names.
OTHER = "other"


def session_cpu_seconds(sessions: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds used so far by every process of each session, by name."""
    names = {session: name for name, session in sessions.items()}
    totals = dict.fromkeys(sessions, 0.0)
    for _pid, session, seconds in _processes():
        name = names.get(session)
        if name is not None:
            totals[name] += seconds
    return totals


def part_cpu_seconds(session: int, parts: Mapping[str, str]) -> dict[str, float]:
    """CPU seconds used so far by the processes of one session, by part.

    ``parts`` names each part by what its processes' command lines hold: for
    a system whose parts all run in one session (the old system's ``up``).
    What no part names is counted as ``other``.
    """
    totals = dict.fromkeys([*parts, OTHER], 0.0)
    for pid, in_session, seconds in _processes():
        if in_session != session:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        part = next((part for part, marker in parts.items() if marker in command), OTHER)
        totals[part] += seconds
    return totals


def _processes() -> Iterator[tuple[int, int, float]]:
    """Every process: its id, its session's, and the CPU seconds it and its reaped children used."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "stat")) as stat:
                line = stat.read()
        except OSError:  # the process ended while we looked
            continue
        # Fields after "(comm)", which may itself hold spaces: state is field
        # 3, so field N is at index N - 3.
        fields = line[line.rindex(")") + 2 :].split()
        utime, stime, cutime, cstime = (int(value) for value in fields[14 - 3 : 18 - 3])
        yield int(entry.name), int(fields[6 - 3]), (utime + stime + cutime + cstime) / CLOCK_TICKS


class CpuMeter:
    """Measures the CPU that named process trees spend between two moments.

    ``parts``: count the processes of the one session given by part (see
    :func:`part_cpu_seconds`), rather than as a whole.
    """

    def __init__(self, sessions: Mapping[str, int], *, parts: Mapping[str, str] | None = None):
        if parts is None:
            self._read = functools.partial(session_cpu_seconds, dict(sessions))
        else:
            [session] = sessions.values()
            self._read = functools.partial(part_cpu_seconds, session, dict(parts))
        self._start = self._read()

    def restart(self) -> None:
        self._start = self._read()

    def spent(self) -> dict[str, float]:
        """CPU seconds each process tree (or part) used since the start (or the last restart)."""
        now = self._read()
        return {name: now[name] - self._start[name] for name in now}
