"""CPU time spent by whole process trees, read from ``/proc``.

Every process of the local stack runs in a session of its own (see
``services.stack.supervisor``), so a session id names a service together
with everything it started: gunicorn's workers, dramatiq's worker processes.
Summing ``utime + stime`` (and ``cutime + cstime`` for children already
reaped) over a session gives what that service cost the machine, whatever
else runs on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Kernel clock ticks per second, the unit of the CPU fields in /proc/<pid>/stat.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def session_cpu_seconds(sessions: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds used so far by every process of each session, by name."""
    names = {session: name for name, session in sessions.items()}
    totals = dict.fromkeys(sessions, 0.0)
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
        name = names.get(int(fields[6 - 3]))
        if name is not None:
            utime, stime, cutime, cstime = (int(value) for value in fields[14 - 3 : 18 - 3])
            totals[name] += (utime + stime + cutime + cstime) / CLOCK_TICKS
    return totals


class CpuMeter:
    """Measures the CPU that named process trees spend between two moments."""

    def __init__(self, sessions: Mapping[str, int]):
        self.sessions = dict(sessions)
        self._start = session_cpu_seconds(self.sessions)

    def restart(self) -> None:
        self._start = session_cpu_seconds(self.sessions)

    def spent(self) -> dict[str, float]:
        """CPU seconds each process tree used since the start (or the last restart)."""
        now = session_cpu_seconds(self.sessions)
        return {name: now[name] - self._start[name] for name in self.sessions}
