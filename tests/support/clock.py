"""A clock the test moves by hand: timers, leases and timeouts without real sleeps."""

from __future__ import annotations


class FakeClock:
    """Starts at `start` (epoch seconds); `sleep` and `advance` move it, nothing waits.

    With `tick`, every reading of `now` is `tick` seconds after the one before, as on a
    real clock: things psflow records one after another (block runs, attempts) get
    times in that order instead of all the same instant.
    """

    def __init__(self, start: float = 1_800_000_000.0, *, tick: float = 0.0) -> None:
        self.wall = start
        self.tick = tick
        self.slept: list[float] = []

    def now(self) -> float:
        self.wall += self.tick
        return self.wall

    def monotonic(self) -> float:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.wall += seconds

    def advance(self, seconds: float) -> None:
        self.wall += seconds
