"""The link between a running script and the attempt that runs it.

Blocks report to a `Recorder` (psflow.runtime's Attempt) while psflow runs an
attempt; with none installed, they simply run, as under plain `python`. The
exceptions here carry control between the two: they are BaseExceptions, so a
script's `except Exception` never swallows them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from psflow.script.block import block


class Skip(BaseException):
    """Raised by a completed block's guard so its body does not run; the block swallows it."""


class Stop(BaseException):
    """Ends the attempt with a status."""

    def __init__(
        self,
        status: str,
        reason: str | None,
        due: float | None = None,
        waits_for: str | None = None,
        awaits: tuple[str, ...] = (),
    ) -> None:
        super().__init__(status, reason)
        self.status, self.reason = status, reason
        self.due = due  # a durable timer (sleep) or a wait's timeout: the job is not taken again before then
        self.waits_for = waits_for  # the input it waits for: due when it arrives
        self.awaits = awaits  # the child jobs it waits for (wait_jobs): due when the last one ends


class Terminated(BaseException):
    """SIGTERM reached the script: like KeyboardInterrupt for Ctrl-C, so `finally` blocks run."""


class RecordError(BaseException):
    """psflow could not write a block's record: the attempt ends."""


class DatabaseTrouble(RecordError):
    """The database stayed unusable (locked, unreachable, full, read-only, damaged): the attempt ends
    Interrupted, so that it is resumed once the database is back."""


class LeaseLost(RecordError):
    """Another runner took the job (this one's lease ran out): it stops and records nothing more."""

    @classmethod
    def of(cls, job_id: str, number: int) -> LeaseLost:
        """The error of attempt `number` of `job_id`, saying what happened and what it means."""
        return cls(
            f"job {job_id} is no longer this runner's (attempt {number} lost its lease and another runner, "
            "or a command, took the job): stopped, nothing more recorded"
        )


class Recorder(Protocol):
    """What the running attempt provides to blocks (psflow.runtime.attempt.Attempt)."""

    job_id: str
    number: int

    def enter(self, handle: block, frame: FrameType) -> None: ...
    def complete(self, handle: block, frame: FrameType) -> None: ...
    def replayed(self, handle: block, frame: FrameType) -> None: ...
    def begin_try(self, handle: block) -> None: ...
    def failed_try(self, handle: block, error: BaseException, delay: float) -> None: ...
    def interrupted(self, handle: block) -> None: ...
    def failed(self, handle: block, error: BaseException) -> None: ...
    def call_key(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], where: tuple[str, int]) -> str: ...
    def wait_for(self, name: str, timeout: float | None) -> Any: ...
    def timer(self, due: Callable[[float], float]) -> None: ...
    def start_child(self, target: str, args: list[str], job_id: str | None, queue: str | None) -> str: ...
    def wait_jobs(self, job_ids: list[str], timeout: float | None, return_exceptions: bool) -> list[Any]: ...
    def result(self) -> Any: ...
    def set_result(self, value: Any) -> None: ...
    # fan-out (psflow.script.fanout): the calls of a map run in lanes, one per call, in other threads
    def map_keys(self, leaves: list[str]) -> list[str]: ...
    def lane_of_thread(self) -> object: ...
    def enter_lane(self, parent: object, label: str) -> object: ...
    def leave_lane(self, lane: object) -> None: ...
    def serve(self, done: threading.Event) -> None: ...
    def wake(self) -> None: ...
    def abandon(self) -> None: ...
    def tell(self, message: str) -> None: ...


current: Recorder | None = None  # the attempt blocks report to now (None: they just run)
_shutdown = False


def _forget_in_a_fork() -> None:
    """A process the script forks is not the attempt: its blocks just run, as under plain Python."""
    global current
    current = None


os.register_at_fork(after_in_child=_forget_in_a_fork)


def activate(recorder: Recorder | None) -> None:
    """Route blocks to `recorder` (None: blocks just run, as under plain Python)."""
    global current
    current = recorder


def request_shutdown() -> None:
    """A worker is stopping: the running job stops before its next block and is handed back."""
    global _shutdown
    _shutdown = True


def shutdown_requested() -> bool:
    return _shutdown


def reset_shutdown() -> None:
    """A worker process starts its next job afresh (a hand-back request was for the job before)."""
    global _shutdown
    _shutdown = False
