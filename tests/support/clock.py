"""A clock the test moves by hand: timers, leases and timeouts without real sleeps."""

from __future__ import annotations


class FakeClock:
    """Starts at `start` (epoch seconds); `sleep` and `advance` move it, nothing waits."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.wall = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.wall += seconds

    def advance(self, seconds: float) -> None:
        self.wall += seconds
