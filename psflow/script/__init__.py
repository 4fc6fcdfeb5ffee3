"""What a running script touches: `block`, `stop`, `job`, `wait_for`, `sleep`, `sleep_until`, `start`, `wait_jobs`.

No database and no libcst here: a script that imports psflow stays light, and
runs under plain `python` too. `NAMES` is the one list of names a script run by
psflow has without importing them; the runtime, the import hook for the
script's folder and `psflow check` all read it.
"""

from __future__ import annotations

from typing import Any

from psflow.errors import BlockError
from psflow.script.block import block
from psflow.script.children import ChildJobError, JobHandle, start, wait_jobs
from psflow.script.deadlines import BlockTimeout
from psflow.script.job import job
from psflow.script.recorder import Terminated
from psflow.script.waiting import WaitTimeout, sleep, sleep_until, stop, wait_for

NAMES = ("block", "stop", "job", "wait_for", "sleep", "sleep_until", "start", "wait_jobs")

__all__ = [
    "NAMES",
    "BlockError",
    "BlockTimeout",
    "ChildJobError",
    "JobHandle",
    "Terminated",
    "WaitTimeout",
    "block",
    "job",
    "provided",
    "sleep",
    "sleep_until",
    "start",
    "stop",
    "wait_for",
    "wait_jobs",
]


def provided() -> dict[str, Any]:
    """The names a script (or a module of its folder) gets without importing them."""
    return {name: globals()[name] for name in NAMES}
