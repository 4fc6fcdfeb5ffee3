"""Per-block time limits, `block("Fetch", timeout=600)`: one SIGALRM timer for the nearest deadline.

A limit that runs out interrupts the body where it is, as Ctrl-C would: `BlockTimeout` is raised
in the main thread (a BaseException, so the script's `except Exception:` does not swallow it),
the block is recorded as failed with it, and a block with `retries=` tries again. Blocks can nest,
so every running block with a limit keeps its deadline here and the timer is set for the nearest.

A signal reaches only the main thread, so a block running in another thread (a call of a map)
gets a timer thread of its own instead, which raises `BlockTimeout` in that thread where it next
runs Python code: a call blocked in a system call (a sleep, a socket read) sees it when that returns.
"""

from __future__ import annotations

import ctypes
import signal
import threading
import time
from typing import Any


class BlockTimeout(BaseException):
    """A block ran longer than its `timeout=`."""

    __module__ = "psflow"  # tracebacks say psflow.BlockTimeout, the name scripts import

    def __init__(self, name: str, seconds: float) -> None:
        from psflow.durations import describe_duration

        super().__init__(f"block {name!r} ran out of its time limit ({describe_duration(seconds)})")
        self.name, self.seconds = name, seconds


_armed: dict[int, tuple[float, str, float]] = {}  # id(handle) -> (monotonic deadline, name, seconds)
_previous_handler: Any = None
_threads: dict[int, threading.Timer] = {}  # id(handle) -> the timer of a block outside the main thread
_threads_lock = threading.Lock()


def arm(handle: object, name: str, seconds: float) -> None:
    """Start `seconds` of time for the body of block `name` (`handle` disarms it)."""
    global _previous_handler
    if threading.current_thread() is not threading.main_thread():
        _arm_thread(handle, name, seconds)
        return
    if not _armed:
        _previous_handler = signal.signal(signal.SIGALRM, _expired)
    _armed[id(handle)] = (time.monotonic() + seconds, name, seconds)
    _set_timer()


def disarm(handle: object) -> None:
    """The body ended (or a try of it did): its time no longer runs."""
    if _threads:
        with _threads_lock:
            timer = _threads.pop(id(handle), None)
        if timer is not None:
            timer.cancel()
            return
    if _armed.pop(id(handle), None) is not None:
        _set_timer()


def _arm_thread(handle: object, name: str, seconds: float) -> None:
    target = threading.get_ident()
    # Raised by its type alone: this one knows its block's name and limit.
    expired = type(
        "BlockTimeout",
        (BlockTimeout,),
        {"__module__": "psflow", "__init__": lambda self: BlockTimeout.__init__(self, name, seconds)},
    )

    def expire() -> None:
        with _threads_lock:  # still armed: raise it there; disarm takes the lock first
            if _threads.get(id(handle)) is timer:
                del _threads[id(handle)]
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(expired))

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    with _threads_lock:
        _threads[id(handle)] = timer
    timer.start()


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
