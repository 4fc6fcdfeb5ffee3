"""This host and its processes: who runs here, and whether a process that ran a job is still alive.

A job's lease names the host and process of its runner. On that same host psflow can
tell at once that the runner is gone (its pid is not alive, or was reused by a
process that started later), instead of waiting for the lease to run out.
"""

from __future__ import annotations

import os
import socket

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def host_name() -> str:
    return socket.gethostname()


def process_started(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), or None where the system does not say (not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            fields = file.read().rpartition(b")")[2].split()
        with open("/proc/stat", "rb") as file:
            boot = next(float(line.split()[1]) for line in file if line.startswith(b"btime"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return round(boot + int(fields[19]) / _CLOCK_TICKS, 2)  # field 22 of stat: start time in clock ticks


def process_alive(pid: int, started: float | None) -> bool:
    """Is the process that started at `started` with this pid still running here?"""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a pid no process can have (an edited row)
        return False
    except PermissionError:
        pass  # alive, someone else's
    if started is None:
        return True
    now_started = process_started(pid)
    return now_started is None or abs(now_started - started) < 1.0
