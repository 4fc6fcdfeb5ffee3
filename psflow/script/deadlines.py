"""Per-block time limits, `block("Fetch", timeout=600)`: one SIGALRM timer for the nearest deadline.

A limit that runs out interrupts the body where it is, as Ctrl-C would: `BlockTimeout` is raised
in the main thread (a BaseException, so the script's `except Exception:` does not swallow it),
the block is recorded as failed with it, and a block with `retries=` tries again. Blocks can nest,
so every running block with a limit keeps its deadline here and the timer is set for the nearest.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from psflow.errors import BlockArgumentError


class BlockTimeout(BaseException):
    """A block ran longer than its `timeout=`."""

    __module__ = "psflow"  # tracebacks say psflow.BlockTimeout, the name scripts import

    def __init__(self, name: str, seconds: float) -> None:
        from psflow.durations import describe_duration

        super().__init__(f"block {name!r} ran out of its time limit ({describe_duration(seconds)})")
        self.name, self.seconds = name, seconds


_armed: dict[int, tuple[float, str, float]] = {}  # id(handle) -> (monotonic deadline, name, seconds)
_previous_handler: Any = None


def arm(handle: object, name: str, seconds: float) -> None:
    """Start `seconds` of time for the body of block `name` (`handle` disarms it)."""
    global _previous_handler
    if threading.current_thread() is not threading.main_thread():
        raise BlockArgumentError(f"block {name!r}: timeout= works only in the main thread (it uses SIGALRM)")
    if not _armed:
        _previous_handler = signal.signal(signal.SIGALRM, _expired)
    _armed[id(handle)] = (time.monotonic() + seconds, name, seconds)
    _set_timer()


def disarm(handle: object) -> None:
    """The body ended (or a try of it did): its time no longer runs."""
    if _armed.pop(id(handle), None) is not None:
        _set_timer()


def _set_timer() -> None:
    """The timer for the nearest deadline; none left: the timer off and SIGALRM as it was before."""
    global _previous_handler
    if _armed:
        nearest = min(deadline for deadline, _, _ in _armed.values())
        signal.setitimer(signal.ITIMER_REAL, max(nearest - time.monotonic(), 1e-6))
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, _previous_handler if _previous_handler is not None else signal.SIG_DFL)
    _previous_handler = None


def _expired(signum: int, frame: Any) -> None:
    now = time.monotonic()
    due = [(deadline, key) for key, (deadline, _, _) in _armed.items() if deadline <= now]
    if not due:  # the timer rang early, or for a block that has just ended
        _set_timer()
        return
    _, key = min(due)
    _, name, seconds = _armed.pop(key)
    _set_timer()
    raise BlockTimeout(name, seconds)
