"""The lanes of an attempt: what each thread running the script has reached.

The script's own thread has one lane; each call of a map (psflow.script.fanout)
runs in a thread with a lane of its own. A lane's reads and writes go through the
script's thread, which alone holds the store's connection.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, cast

from psflow.runtime.capture import OutputCapture
from psflow.script.recorder import DatabaseTrouble, Terminated


class Lane:
    """What one thread of the attempt has reached: the blocks open in it (innermost last), its calls
    and timers per scope, and the names it reached in order (a retry forgets those after its start)."""

    __slots__ = ("calls", "open", "parent", "seen", "timers", "via_owner")

    def __init__(self, parent: Lane | None, via_owner: bool) -> None:
        self.parent, self.via_owner = parent, via_owner  # via_owner: the script's thread writes its records
        self.open: list[str] = []
        self.calls: dict[str, int] = {}  # @block calls reached so far, per key without `#N`
        self.timers: dict[str, int] = {}
        self.seen: list[str] = []


class Lanes:
    """The attempt's lanes, the tallies they share, and the script's thread serving their requests."""

    def __init__(self, capture: OutputCapture) -> None:
        self.main = Lane(None, True)  # what the script's own thread has reached
        self.active = 0  # lanes of map calls open now: none, and every thread is the script's (the hot path)
        self.ran = self.replayed = 0  # blocks (and other records) run and replayed in this attempt
        self._capture = capture
        self._local = threading.local()  # .lane: the lane of a thread running a call of a map
        self._lock = threading.Lock()  # what the lanes share: counts, journals
        self._owner = threading.get_ident()  # the thread that runs the script and holds the connection
        self._requests: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()  # lanes' reads and writes
        self._abandoned = False  # the script's thread no longer serves the lanes

    def current(self) -> Lane:
        """The calling thread's lane: the script's own, unless it runs a call of a map."""
        if not self.active:
            return self.main
        return getattr(self._local, "lane", None) or self.main

    def scope(self) -> str | None:
        """The innermost block open in this thread's lane (None: at top level)."""
        opened = self.current().open
        return opened[-1] if opened else None

    def count_ran(self, lane: Lane | None) -> None:
        """One more record run; under the lock unless `lane` is the script's own (the hot path)."""
        if lane is self.main:
            self.ran += 1
        else:
            with self._lock:
                self.ran += 1

    def count_replayed(self, lane: Lane | None) -> None:
        """One more record replayed; under the lock unless `lane` is the script's own (the hot path)."""
        if lane is self.main:
            self.replayed += 1
        else:
            with self._lock:
                self.replayed += 1

    def through_owner(self, call: Callable[[], Any]) -> Any:
        """`call()`, run by the script's thread when this thread runs a call of a map that thread waits
        for: the attempt's reads and writes go one at a time through its one connection."""
        lane = self.current()
        if lane is self.main or not lane.via_owner:
            return call()
        request = _Request(call)
        self._requests.put(request)
        while not request.done.wait(1.0):
            if self._abandoned:
                raise DatabaseTrouble("the attempt ended before this call's record was written")
        if request.error is not None:
            raise request.error
        return request.result

    # ---- the Recorder's fan-out (psflow.script.recorder) ---------------------

    def of_thread(self) -> object:
        """Where a map is called from: its calls' lanes report to it (see enter)."""
        lane = self.current()
        via_owner = lane.via_owner if lane is not self.main else threading.get_ident() == self._owner
        return lane, via_owner, self._capture.lane_of_thread()

    def enter(self, parent: object, label: str) -> Lane:
        """This thread runs one call of a map from here on: its blocks, counts and output are its own."""
        above, via_owner, output = cast("tuple[Lane, bool, Any]", parent)
        lane = Lane(above, via_owner)
        with self._lock:
            self.active += 1
        self._local.lane = lane
        self._capture.enter_lane(label, output)
        return lane

    def leave(self, lane: object) -> None:
        assert isinstance(lane, Lane) and lane.parent is not None
        self._capture.leave_lane()
        self._local.lane = None
        with self._lock:
            lane.parent.seen.extend(lane.seen)  # a retry of a block around the map forgets them too
            self.active -= 1

    def serve(self, done: threading.Event) -> None:
        """Wait until `done`; in the script's thread, meanwhile write (and read) for the lanes, one
        request at a time, on this thread's connection. A signal interrupts it like any wait."""
        if threading.get_ident() != self._owner:
            done.wait()  # a map inside a call: the script's thread serves its lanes too
            return
        while not done.is_set():
            request = self._requests.get()
            if request is not None:
                request.run()

    def wake(self) -> None:
        self._requests.put(None)

    def abandon(self) -> None:
        """The script's thread stops serving: what a lane asks from now on fails, unwritten."""
        self._abandoned = True


class _Request:
    """A lane's read or write, run by the script's thread; the lane waits for `done`."""

    __slots__ = ("call", "done", "error", "result")

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call, self.done = call, threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except BaseException as error:
            self.error = error  # the lane's own (its record not written) …
            if isinstance(error, (KeyboardInterrupt, Terminated)):
                raise  # … and the script's thread's: a signal came while it wrote
        finally:
            self.done.set()
