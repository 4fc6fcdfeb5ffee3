"""`Deploy.map(items, limit=8)`: the calls of an `@block` function run in threads, each a block of its own.

Keys are fixed before anything runs (psflow.keys.map_leaves), so a resumed attempt
meets the same calls under the same names whatever order the threads finish in.
Calls run in daemon threads, at most `limit` at once. The thread that called map
waits in the recorder's `serve`, which writes the calls' records on the attempt's
own connection, one at a time.

Failures: an Exception (or a BlockTimeout) in a call does not stop the others; once
all have ended the failures are raised together as one ExceptionGroup (or returned
in place with `return_exceptions=True`). Anything else (stop(), wait_for, Ctrl-C, SIGTERM, a lost
lease) starts no further call: the running ones finish their blocks, then it is
raised. A second Ctrl-C/SIGTERM interrupts the running calls too; a third stops
waiting for them.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from psflow import keys
from psflow.errors import BlockArgumentError
from psflow.script import recorder
from psflow.script.deadlines import BlockTimeout
from psflow.script.recorder import RecordError


def run_map(
    name: str,
    call: Callable[[str | None, Any], Any],
    items: Iterable[Any],
    *,
    limit: int,
    key: Callable[[Any], Any] | None,
    return_exceptions: bool,
) -> list[Any]:
    """The results of `call(key, item)` for every item, in input order (see the module's docstring)."""
    if type(limit) is not int or limit < 1:
        raise BlockArgumentError(f"{name}.map: limit must be an int of 1 or more, not {limit!r}")
    items = list(items)
    labels = items
    if key is not None:
        labels = [key(item) for item in items]
        problem = keys.map_label_problem(labels)
        if problem is not None:
            raise BlockArgumentError(f"{name}.map: {problem}; fix: make key= return a distinct short str or int")
    leaves = keys.map_leaves(name, labels, len(items))
    current = recorder.current
    names = current.map_keys(leaves) if current is not None else leaves
    fanout = _Fanout(names, items, call, limit, current)
    fanout.run()
    failures = sorted(fanout.errors.items())
    if return_exceptions:
        return [fanout.errors.get(index, result) for index, result in enumerate(fanout.results)]
    if failures:
        listed = ", ".join(names[index] for index, _ in failures)
        # An ExceptionGroup, unless a call ran out of time (BlockTimeout is not an Exception).
        raise BaseExceptionGroup(
            f"{len(failures)} of {len(items)} calls of {name} failed: {listed}", [error for _, error in failures]
        )
    return fanout.results


class _Fanout:
    """The threads of one map, and what they ended with."""

    def __init__(
        self,
        names: list[str],
        items: list[Any],
        call: Callable[[str | None, Any], Any],
        limit: int,
        current: recorder.Recorder | None,
    ) -> None:
        self.names, self.items, self.call, self.current = names, items, call, current
        self.results: list[Any] = [None] * len(items)
        self.errors: dict[int, BaseException] = {}  # what each failed call raised (an Exception, a timeout)
        self.stops: dict[int, BaseException] = {}  # anything else a call raised: no call starts after it
        self.workers = min(limit, len(items))
        self.lock = threading.Lock()
        self.next = 0
        self.running: dict[int, int] = {}  # thread ident -> index of the call it runs
        self.stopping: BaseException | None = None  # what stops the map, raised once the calls have ended
        self.left = self.workers
        self.done = threading.Event()
        self.parent = current.lane_of_thread() if current is not None else None

    def run(self) -> None:
        if not self.items:
            return
        for number in range(self.workers):
            threading.Thread(target=self._work, name=f"psflow-map-{number}", daemon=True).start()
        signals, reacted, latest = 0, 0, BaseException()
        while True:
            try:  # a signal may come at any point here, while it reacts to the one before too
                if reacted < signals:
                    reacted = signals
                    if self._react(signals, latest):
                        raise latest
                if self.current is not None:
                    self.current.serve(self.done)
                else:
                    self.done.wait()
                break
            except BaseException as error:  # in this thread: Ctrl-C, SIGTERM, a lost lease
                if error is latest:
                    raise
                signals, latest = signals + 1, error
                with self.lock:
                    self.stopping = self.stopping or error
        stops = [self.stops[index] for index in sorted(self.stops)]
        if self.stopping is not None:
            raise self.stopping
        if stops:
            raise stops[0]

    def _work(self) -> None:
        try:
            while True:
                with self.lock:
                    if self.stopping is not None or self.stops or self.next >= len(self.items):
                        break
                    index = self.next
                    self.next += 1
                    self.running[threading.get_ident()] = index
                try:
                    self.results[index] = self._call(index)
                except (Exception, BlockTimeout) as error:  # a failure of this call alone
                    self.errors[index] = error
                except BaseException as error:
                    with self.lock:
                        self.stops[index] = error
                finally:
                    with self.lock:
                        self.running.pop(threading.get_ident(), None)
        finally:
            with self.lock:
                self.left -= 1
                last = self.left == 0
            if last:
                self.done.set()
                if self.current is not None:
                    self.current.wake()

    def _call(self, index: int) -> Any:
        if self.current is None:
            return self.call(None, self.items[index])
        lane = self.current.enter_lane(self.parent, self.names[index])
        try:
            return self.call(self.names[index], self.items[index])
        finally:
            self.current.leave_lane(lane)

    def _react(self, signals: int, error: BaseException) -> bool:
        """The `signals`-th signal came (`error`): tell the user, interrupt the running calls from the
        second on; True when the map stops waiting for them (a third, or a lost lease)."""
        if isinstance(error, RecordError) or signals >= 3:
            self._interrupt(type(error))
            if self.current is not None:
                self.current.abandon()
            return True
        if signals == 2:
            self._interrupt(type(error))
        self._tell(signals, type(error).__name__)
        return False

    def _tell(self, signals: int, what: str) -> None:
        with self.lock:
            running = len(self.running)
        if signals == 1:
            message = (
                f"{what}: no further call of the map starts; the {running} running finish their blocks "
                "(again: interrupt them)"
            )
        else:
            message = f"{what} again: the {running} running calls of the map are interrupted (again: stop waiting)"
        if self.current is not None:
            self.current.tell(message)
        else:
            print(f"psflow: {message}", file=sys.stderr, flush=True)

    def _interrupt(self, kind: type[BaseException]) -> None:
        """Raise `kind` in every running call, where it next runs Python code (a call blocked in a
        system call sees it when that returns)."""
        with self.lock:
            idents = list(self.running)
        for ident in idents:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(kind))
