"""`block`: a named step that runs once per job, as `with block("Name"):` or `@block("Name")`.

Light on purpose (no database, no libcst): `from psflow import block` must cost
nothing, and a script run by plain `python` still works — its blocks simply run.
While psflow runs an attempt, every block reports to the installed recorder.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from psflow import keys
from psflow.domain import ExitKind, storable
from psflow.errors import BlockArgumentError, BlockError, BlockNameError
from psflow.script import deadlines, recorder
from psflow.script.recorder import Skip, Stop
from psflow.script.scope import MISSING, lookup

if TYPE_CHECKING:
    from datetime import timedelta


class block:
    """A named step that runs once per job. `with block("Name"):` or `@block("Name")`.

    The psflow transformer turns `with block(NAME):` into
    `with block(NAME).at(line, binds, mutates, fingerprint, given=…) as h, h.body():` and adds
    the code that gives back what the body bound when it is replayed.

    `retries=N` runs the body again, up to N more times, when it raises an
    Exception (not psflow's own errors, not stop()); `backoff` is the wait before
    the first retry in seconds (or a timedelta), doubled before each later one.
    The transformer wraps such a body in `while h.next_try(): with h.trying():`.

    `timeout=` limits each run (each try) of the body to that many seconds (or a
    timedelta): when it runs out the body is interrupted with `BlockTimeout`, as
    Ctrl-C would interrupt it (psflow.script.deadlines).
    """

    __slots__ = (
        "again",
        "backoff",
        "binds",
        "exit",
        "failures",
        "file",
        "fingerprint",
        "given",
        "line",
        "mutates",
        "name",
        "record",
        "replaying",
        "retries",
        "returned",
        "saved",
        "timeout",
        "tries",
        "try_state",
    )

    def __init__(
        self,
        name: str,
        *,
        retries: int = 0,
        backoff: float | timedelta = 0.0,
        timeout: float | timedelta | None = None,
    ) -> None:
        if type(name) is not str:
            raise BlockNameError(f"block name must be a str, not {type(name).__name__} ({name!r})")
        if not 0 < len(name) <= keys.MAX_NAME_LENGTH or "\x00" in name:
            raise BlockNameError(
                f"block name must be 1 to {keys.MAX_NAME_LENGTH} characters without NUL, not {name[:40]!r}"
                + ("…" if len(name) > 40 else "")
            )
        problem = keys.block_name_problem(name)
        if problem is not None:
            raise BlockNameError(f"block name {name!r} {problem}")
        if not name.isascii() and storable(name) != name:
            raise BlockNameError(
                f"block name {name!r} holds a character no database keeps (a file name's undecodable byte, "
                f"as os.listdir gives it): name the block with that part escaped, e.g. {storable(name)!r}"
            )
        if type(retries) is not int or retries < 0:
            raise BlockArgumentError(f"block {name!r}: retries must be an int of 0 or more, not {retries!r}")
        self.backoff = backoff if backoff == 0.0 and type(backoff) is float else _seconds(name, "backoff", backoff)
        self.timeout = None if timeout is None else _seconds(name, "timeout", timeout, positive=True)
        self.name = name
        self.retries = retries
        self.line: int | None = None
        self.file: str | None = None  # where an @block function is defined (else: the frame's file)
        self.fingerprint: str | None = None
        self.replaying = False
        self.exit = ExitKind.NORMAL
        self.returned: Any = None
        self.tries = 0  # tries of the body started so far (a block without the retry loop leaves it at 0)
        self.again = False  # the last try failed and will be retried
        self.failures: tuple[str, ...] = ()  # the tracebacks of failed tries, for the block's record
        # Kept here for the attempt (psflow.runtime.attempt), which alone reads them:
        self.record: Any = None  # the stored record being replayed, or what a running body started with
        self.saved: Any = {}  # the replayed values, read by the transformed code
        self.try_state: Any = None  # the attempt's state before the first try, restored before each retry

    # ---- called by transformed code --------------------------------------

    def at(
        self,
        line: int,
        binds: tuple[str, ...],
        mutates: tuple[str, ...],
        fingerprint: str | None = None,
        given: tuple[str, ...] = (),
    ) -> block:
        """Where the block is, what its body binds and mutates (assigns items or attributes of, calls
        methods of), a hash of its code, and the outer names it only gives to calls or binds to
        (from the transformer): psflow watches both kinds of name for changes."""
        self.line, self.binds, self.mutates, self.fingerprint, self.given = line, binds, mutates, fingerprint, given
        return self

    def body(self) -> _Guard:
        return _Guard(self)

    def returning(self, value: Any) -> Any:
        self.exit, self.returned = ExitKind.RETURN, value
        return value

    def leaving(self, kind: str) -> None:
        self.exit = kind

    def next_try(self) -> bool:
        """The retry loop's test: True to run the body (first, or again after a failed try)."""
        if self.tries and not self.again:
            return False
        self.tries += 1
        self.again, self.exit = False, ExitKind.NORMAL
        if recorder.current is not None:
            recorder.current.begin_try(self)
        if self.tries > 1 and self.timeout is not None:  # the first try's time started with the body
            deadlines.arm(self, self.name, self.timeout)
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
        if recorder.current is not None:
            frame = sys._getframe(1)
            if self.line is None:
                raise BlockError(
                    f"block {self.name!r} at {frame.f_code.co_filename}:{frame.f_lineno} was not rewritten "
                    "by psflow (it is in an imported module, or `with` is given a variable): "
                    'write `with block("Name"):` in the script psflow runs'
                )
            recorder.current.enter(self, frame)
        elif self.line is None and self.timeout is not None:  # plain Python: no rewritten body to start the time
            deadlines.arm(self, self.name, self.timeout)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.timeout is not None:
            deadlines.disarm(self)
        current = recorder.current
        if current is None or self.line is None:
            return False
        if exc_type is None:
            current.complete(self, sys._getframe(1))
            return False
        if exc_type is Skip:
            current.replayed(self, sys._getframe(1))  # raises SystemExit again if the block ended the script
            return True
        if issubclass(exc_type, SystemExit) and exc.code in (None, 0):  # a normal way out: the block completed
            self.exit, self.returned = ExitKind.EXIT, exc.code
            current.complete(self, sys._getframe(1))
            return False
        if issubclass(exc_type, Stop):
            current.interrupted(self)
        else:
            current.failed(self, exc)
        return False

    # ---- the decorator ---------------------------------------------------

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Each call of `func` is a block keyed by its arguments (psflow.keys); its return value is what is saved."""
        problem = keys.callable_name_problem(self.name)
        if problem is not None:
            raise BlockNameError(f"@block name {self.name!r} {problem}")
        name, line, retries, backoff, timeout = (
            self.name,
            func.__code__.co_firstlineno,
            self.retries,
            self.backoff,
            self.timeout,
        )
        where = (func.__code__.co_filename, line)
        signature: list[inspect.Signature] = []  # made on the first call under psflow

        def run(key: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            # what the call is given it may change (`self.n += 1` in a method): watched like a block's outer names
            handle = block(name, retries=retries, backoff=backoff, timeout=timeout).at(
                line, (), (), given=("args", "kwargs")
            )
            handle.file = where[0]  # its warnings and errors name the user's file, not this one
            if key is not None:
                handle.name = key
            elif recorder.current is not None:
                handle.name = recorder.current.call_key(name, *_arguments(func, signature, args, kwargs), where)
            with handle, handle.body():
                while handle.next_try():
                    with handle.trying():
                        return handle.returning(func(*args, **kwargs))
            return handle.returned

        @functools.wraps(func)
        def run_as_block(*args: Any, **kwargs: Any) -> Any:
            return run(None, args, kwargs)

        def map_calls(
            items: Iterable[Any],
            limit: int = 8,
            key: Callable[[Any], Any] | None = None,
            return_exceptions: bool = False,
        ) -> list[Any]:
            """`func(item)` for every item, in threads, at most `limit` at once; each call a block keyed
            `Name[item]` (psflow.script.fanout). The results in input order."""
            from psflow.script.fanout import run_map

            return run_map(
                name,
                lambda call_key, item: run(call_key, (item,), {}),
                items,
                limit=limit,
                key=key,
                return_exceptions=return_exceptions,
            )

        run_as_block.map = map_calls  # type: ignore[attr-defined]
        return run_as_block

    def __repr__(self) -> str:
        return f"<psflow block {self.name!r}>"


class _Guard:
    """Second item of a rewritten `with`: raises Skip when the block is replayed."""

    __slots__ = ("handle",)

    def __init__(self, handle: block) -> None:
        self.handle = handle

    def __enter__(self) -> block:
        handle = self.handle
        if handle.replaying:
            raise Skip
        if handle.timeout is not None:
            deadlines.arm(handle, handle.name, handle.timeout)
        return handle

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
        if handle.timeout is not None:
            deadlines.disarm(handle)  # the wait before the next try is not the body's time
        delay = handle.retry_delay()
        if recorder.current is not None:
            recorder.current.failed_try(handle, exc, delay)  # records the try, tells the user, waits
        else:
            print(f"block {handle.name!r}: {describe_failed_try(handle, exc, delay)}", file=sys.stderr)
            time.sleep(delay)
        handle.again = True
        return True


def _arguments(
    func: Callable[..., Any], signature: list[inspect.Signature], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments as the signature binds them, so `f(1)` and `f(x=1)` are one call;
    as given when they do not bind (the call itself then fails as Python says)."""
    try:
        if not signature:
            signature.append(inspect.signature(func))
        bound = signature[0].bind(*args, **kwargs)
    except (TypeError, ValueError):  # arguments that do not fit, or a callable without a signature
        return args, kwargs
    return bound.args, bound.kwargs


def retryable(error: BaseException) -> bool:
    """Worth another try: an Exception of the script's or a body that ran out of time, not a psflow
    error (the script is wrong) or a timed-out wait."""
    from psflow.script.waiting import WaitTimeout

    if isinstance(error, deadlines.BlockTimeout):
        return True
    return isinstance(error, Exception) and not isinstance(error, (BlockError, WaitTimeout))


def _seconds(name: str, option: str, value: object, *, positive: bool = False) -> float:
    from psflow.durations import to_seconds

    try:
        return to_seconds(value, f"block {name!r}: {option}", positive=positive)
    except (TypeError, ValueError) as error:
        raise BlockArgumentError(str(error)) from None


def describe_failed_try(handle: block, error: BaseException, delay: float) -> str:
    """`try 1 of 4 failed (ValueError: bad); trying again in 2s` — for the user, live."""
    import traceback

    from psflow.durations import describe_duration

    summary = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()
    when = f"in {describe_duration(delay)}" if delay else "now"
    return (
        f"try {handle.tries} of {handle.retries + 1} failed ({summary[-1] if summary else type(error).__name__}); "
        f"trying again {when}"
    )
