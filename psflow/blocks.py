"""What a script sees: `block`, `stop` and `job`.

Light on purpose (no database, no libcst): `from psflow import block` must cost
nothing, and a script run by plain `python` still works — its blocks simply run.
While psflow runs an attempt, `activate()` installs the attempt's recorder, and
every block reports to it.
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Protocol

if TYPE_CHECKING:
    from datetime import datetime, timedelta

_OPTIMIZED = 0x1  # CO_OPTIMIZED: a function frame, whose locals are not a dict
MISSING = object()
MAX_NAME_LENGTH = 255  # the block name column's width on every backend
_STATUS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class Skip(BaseException):
    """Raised by a completed block's guard so its body does not run; the block swallows it."""


class Stop(BaseException):
    """Ends the attempt with a status. A BaseException, so `except Exception` lets it through."""

    def __init__(self, status: str, reason: str | None, due: float | None = None) -> None:
        super().__init__(status, reason)
        self.status, self.reason = status, reason
        self.due = due  # a durable timer (sleep): the job is not taken again before this epoch time


class BlockError(Exception):
    """A block used in a way psflow cannot run; the message says where and what to do."""


class BlockArgumentError(BlockError):
    """A block given a name or an option it cannot use (the script is wrong: exit status 2)."""


class BlockNameError(BlockArgumentError):
    """A block name that is not a str."""


class WaitTimeout(TimeoutError):
    """`wait_for(name, timeout=…)` waited longer than `timeout` for its input (catch it to escalate)."""


class RecordError(BaseException):
    """psflow could not write a block's record: the attempt ends (a BaseException, so no script swallows it)."""


class Recorder(Protocol):
    """What the running attempt provides to blocks (psflow.runtime.Attempt)."""

    job_id: str
    number: int

    def enter(self, handle: block, frame: FrameType) -> None: ...
    def complete(self, handle: block, frame: FrameType) -> None: ...
    def replayed(self, handle: block, frame: FrameType) -> None: ...
    def begin_try(self, handle: block) -> None: ...
    def failed_try(self, handle: block, error: BaseException, delay: float) -> None: ...
    def interrupted(self, handle: block) -> None: ...
    def failed(self, handle: block, error: BaseException) -> None: ...
    def call_key(self, name: str) -> str: ...
    def wait_for(self, name: str, timeout: float | None) -> Any: ...
    def timer(self, due: Callable[[float], float]) -> None: ...


_recorder: Recorder | None = None
_shutdown = False


def activate(recorder: Recorder | None) -> None:
    """Route blocks to `recorder` (None: blocks just run, as under plain Python)."""
    global _recorder
    _recorder = recorder


def request_shutdown() -> None:
    """A worker is stopping: the running job stops before its next block and is handed back."""
    global _shutdown
    _shutdown = True


def shutdown_requested() -> bool:
    return _shutdown


class block:
    """A named step that runs once per job. `with block("Name"):` or `@block("Name")`.

    The psflow transformer turns `with block(NAME):` into
    `with block(NAME).at(line, binds, mutates, fingerprint) as h, h.body():` and adds
    the code that gives back what the body bound when it is replayed.

    `retries=N` runs the body again, up to N more times, when it raises an
    Exception (not psflow's own errors, not stop()); `backoff` is the wait before
    the first retry in seconds (or a timedelta), doubled before each later one.
    The transformer wraps such a body in `while h.next_try(): with h.trying():`.
    """

    __slots__ = (
        "name", "line", "binds", "mutates", "replaying", "saved", "exit", "returned", "record", "fingerprint",
        "retries", "backoff", "tries", "again", "failures", "try_state",
    )

    def __init__(self, name: str, *, retries: int = 0, backoff: float | timedelta = 0.0) -> None:
        if type(name) is not str:
            raise BlockNameError(f"block name must be a str, not {type(name).__name__} ({name!r})")
        if not 0 < len(name) <= MAX_NAME_LENGTH or "\x00" in name:
            raise BlockNameError(
                f"block name must be 1 to {MAX_NAME_LENGTH} characters without NUL, not {name[:40]!r}"
                + ("…" if len(name) > 40 else "")
            )
        if type(retries) is not int or retries < 0:
            raise BlockArgumentError(f"block {name!r}: retries must be an int of 0 or more, not {retries!r}")
        if backoff == 0.0 and type(backoff) is float:  # the default, checked cheaply: every block passes here
            self.backoff = backoff
        else:
            try:
                self.backoff = _seconds(backoff, f"block {name!r}: backoff")
            except (TypeError, ValueError) as error:
                raise BlockArgumentError(str(error)) from None
        self.name = name
        self.retries = retries
        self.line: int | None = None
        self.fingerprint: str | None = None
        self.replaying = False
        self.exit = "normal"
        self.returned: Any = None
        self.tries = 0  # tries of the body started so far (a block without the retry loop leaves it at 0)
        self.again = False  # the last try failed and will be retried
        self.failures: tuple[str, ...] = ()  # the tracebacks of failed tries, for the block's record

    # ---- called by transformed code --------------------------------------

    def at(
        self, line: int, binds: tuple[str, ...], mutates: tuple[str, ...], fingerprint: str | None = None
    ) -> block:
        """Where the block is, what its body binds and mutates, and a hash of its code (from the transformer)."""
        self.line, self.binds, self.mutates, self.fingerprint = line, binds, mutates, fingerprint
        return self

    def body(self) -> _Guard:
        return _Guard(self)

    def returning(self, value: Any) -> Any:
        self.exit, self.returned = "return", value
        return value

    def leaving(self, kind: str) -> None:
        self.exit = kind

    def next_try(self) -> bool:
        """The retry loop's test: True to run the body (first, or again after a failed try)."""
        if self.tries and not self.again:
            return False
        self.tries += 1
        self.again, self.exit = False, "normal"
        if _recorder is not None:
            _recorder.begin_try(self)
        return True

    def trying(self) -> _Try:
        return _Try(self)

    def retry_delay(self) -> float:
        """Seconds to wait before the next try: `backoff`, doubled for each try already retried."""
        return self.backoff * 2.0 ** min(self.tries - 1, 64)  # a float, even for absurd retries

    def bound(self, key: str) -> bool:
        """Is `key` bound in the caller's scope right now? (to replay a `del`)."""
        return lookup(sys._getframe(1), key) is not MISSING

    # ---- the context manager ---------------------------------------------

    def __enter__(self) -> block:
        if _recorder is not None:
            frame = sys._getframe(1)
            if self.line is None:
                raise BlockError(
                    f"block {self.name!r} at {frame.f_code.co_filename}:{frame.f_lineno} was not rewritten "
                    "by psflow (it is in an imported module, or `with` is given a variable): "
                    "write `with block(\"Name\"):` in the script psflow runs"
                )
            _recorder.enter(self, frame)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        recorder = _recorder
        if recorder is None or self.line is None:
            return False
        if exc_type is None:
            recorder.complete(self, sys._getframe(1))
            return False
        if exc_type is Skip:
            recorder.replayed(self, sys._getframe(1))
            return True
        if issubclass(exc_type, Stop):
            recorder.interrupted(self)
        else:
            recorder.failed(self, exc)
        return False

    # ---- the decorator ---------------------------------------------------

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Each call of `func` is a block (`Name`, `Name#2`, …); its return value is what is saved."""
        name, line, retries, backoff = self.name, func.__code__.co_firstlineno, self.retries, self.backoff

        @functools.wraps(func)
        def run_as_block(*args: Any, **kwargs: Any) -> Any:
            key = _recorder.call_key(name) if _recorder is not None else name
            handle = block(key, retries=retries, backoff=backoff).at(line, (), ())
            with handle, handle.body():
                while handle.next_try():
                    with handle.trying():
                        return handle.returning(func(*args, **kwargs))
            return handle.returned

        return run_as_block

    def __repr__(self) -> str:
        return f"<psflow block {self.name!r}>"


class _Guard:
    """Second item of a rewritten `with`: raises Skip when the block is replayed."""

    __slots__ = ("handle",)

    def __init__(self, handle: block) -> None:
        self.handle = handle

    def __enter__(self) -> block:
        if self.handle.replaying:
            raise Skip
        return self.handle

    def __exit__(self, exc_type, exc, tb) -> None:
        return None


class _Try:
    """One try of a retried block's body: a failure with tries left is recorded, waited out and swallowed."""

    __slots__ = ("handle",)

    def __init__(self, handle: block) -> None:
        self.handle = handle

    def __enter__(self) -> block:
        return self.handle

    def __exit__(self, exc_type, exc, tb) -> bool:
        handle = self.handle
        if exc_type is None or handle.tries > handle.retries or not retryable(exc):
            return False
        delay = handle.retry_delay()
        if _recorder is not None:
            _recorder.failed_try(handle, exc, delay)  # records the try, tells the user, waits
        else:
            print(f"block {handle.name!r}: {describe_failed_try(handle, exc, delay)}", file=sys.stderr)
            time.sleep(delay)
        handle.again = True
        return True


def retryable(error: BaseException) -> bool:
    """Worth another try: an Exception of the script's, not a psflow error (the script is wrong) or a timed-out wait."""
    return isinstance(error, Exception) and not isinstance(error, (BlockError, WaitTimeout))


def describe_failed_try(handle: block, error: BaseException, delay: float) -> str:
    """`try 1 of 4 failed (ValueError: bad); trying again in 2s` — for the user, live."""
    import traceback

    from psflow.inputs import describe_duration

    summary = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()
    when = f"in {describe_duration(delay)}" if delay else "now"
    return (
        f"try {handle.tries} of {handle.retries + 1} failed ({summary[-1] if summary else type(error).__name__}); "
        f"trying again {when}"
    )


def lookup(frame: FrameType, key: str) -> Any:
    """The value `key` has in `frame`'s scope, or MISSING if unbound there."""
    code = frame.f_code
    if code.co_flags & _OPTIMIZED and not (
        key in code.co_varnames or key in code.co_cellvars or key in code.co_freevars
    ):
        return frame.f_globals.get(key, MISSING)  # declared `global` in this function
    return frame.f_locals.get(key, MISSING)


def stop(status: str = "Waiting", reason: str | None = None) -> NoReturn:
    """End this attempt now; the job gets `status` (resume it with `psflow resume --status STATUS`)."""
    if not isinstance(status, str) or not _STATUS.fullmatch(status) or status == "Running":
        raise ValueError(f"stop() needs a status word such as 'Waiting' (letters, digits, - or _), not {status!r}")
    if reason is not None and not isinstance(reason, str):
        raise ValueError(f"stop() reason must be a str or None, not {type(reason).__name__}")
    if _recorder is None:
        print(f"stopped: {status}" + (f" ({reason})" if reason else ""), file=sys.stderr)
        raise SystemExit(3)
    raise Stop(status, reason)


def wait_for(name: str, timeout: float | timedelta | None = None) -> Any:
    """The value of input `name` sent to this job (`psflow send JOB name=value`).

    Until it arrives, the attempt stops with status Waiting ("waiting for NAME").
    The value is recorded as block `wait_for:NAME` the first time it is read and
    given back on every later attempt, even if other values are sent afterwards.
    With `timeout`, a job still waiting that long after it first waited raises
    WaitTimeout (uncaught, the job fails). Under plain Python the value comes
    from the environment variable PSFLOW_INPUT_<NAME>, or the script stops (exit 3).
    """
    from psflow.inputs import check_name

    check_name(name)
    seconds = None if timeout is None else _seconds(timeout, "wait_for() timeout")
    if _recorder is not None:
        return _recorder.wait_for(name, seconds)
    from psflow.inputs import env_var, parse_value

    variable = env_var(name)
    if variable in os.environ:
        return parse_value(os.environ[variable])
    print(f"stopped: Waiting (waiting for {name}; set {variable} to give it)", file=sys.stderr)
    raise SystemExit(3)


def sleep(duration: float | timedelta) -> None:
    """A durable timer: the job waits `duration` (seconds or a timedelta) without holding a process.

    The attempt stops with status Waiting and a due time; `psflow resume` and
    `psflow worker` leave the job alone until then. The due time is computed once,
    on the first attempt that reaches this call, and kept: a resumed job does not
    sleep again from scratch. Under plain Python it is time.sleep.
    """
    seconds = _seconds(duration, "sleep()")
    if _recorder is None:
        time.sleep(seconds)
        return
    _recorder.timer(lambda now: now + seconds)


def sleep_until(when: datetime) -> None:
    """A durable timer until `when` (a naive datetime is local time); see `sleep`. A past time continues at once."""
    from datetime import datetime

    if not isinstance(when, datetime):
        raise TypeError(f"sleep_until() needs a datetime, not {type(when).__name__}")
    due = when.timestamp()  # naive: local time; aware: its own zone
    if _recorder is None:
        time.sleep(max(0.0, due - time.time()))
        return
    _recorder.timer(lambda now: due)


def _seconds(duration: object, what: str) -> float:
    """`duration` (seconds or a timedelta) as seconds; ValueError/TypeError if it is not a duration."""
    from datetime import timedelta

    if isinstance(duration, timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, (int, float)) and not isinstance(duration, bool):
        seconds = float(duration)
    else:
        raise TypeError(f"{what} needs seconds or a timedelta, not {type(duration).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} needs a duration of 0 or more seconds, not {duration!r}")
    return seconds


class _Job:
    """`job.id`, `job.attempt`, `job.status` of the running job (None/0 outside psflow)."""

    @property
    def id(self) -> str | None:
        return _recorder.job_id if _recorder is not None else os.environ.get("PSFLOW_JOB_ID")

    @property
    def attempt(self) -> int:
        return _recorder.number if _recorder is not None else 0

    @property
    def status(self) -> str | None:
        return "Running" if _recorder is not None else None

    def __repr__(self) -> str:
        return f"<psflow job id={self.id!r} attempt={self.attempt}>"


job = _Job()
