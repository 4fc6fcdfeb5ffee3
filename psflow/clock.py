"""Time as psflow reads it, behind one seam so tests can move it by hand.

Wall time (`now`, epoch seconds) is what is stored and compared across servers;
`monotonic` measures waits inside one process; `sleep` waits. Tests pass a fake
clock instead of sleeping.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    now = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)


SYSTEM_CLOCK: Clock = SystemClock()
