"""Signals while an attempt runs: Ctrl-C and SIGTERM interrupt the script, then psflow records
how it ended without being interrupted itself.

* SIGINT raises KeyboardInterrupt in the script (as Python does), SIGTERM raises
  psflow.Terminated: the running block is interrupted, the script's `finally` runs.
* SIGUSR1 asks for a graceful stop (a worker shutting down): the running block
  finishes, and the job is handed back before the next one.
* SIGUSR2 is how the heartbeat thread stops the script when the lease was lost.
* Once the script has ended, SIGINT and SIGTERM are only noted: the ending is recorded.

Handlers can only be set in the main thread; elsewhere the attempt runs without them.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from psflow.errors import EXIT_INTERRUPTED, EXIT_TERMINATED
from psflow.script import recorder
from psflow.script.recorder import LeaseLost, Terminated

EXIT_FOR = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: EXIT_TERMINATED}
GRACEFUL = signal.SIGUSR1
LEASE_LOST = signal.SIGUSR2


class ScriptSignals:
    """Signal handling for one attempt; set `running` False as soon as the script has ended."""

    def __init__(self) -> None:
        self.running = True
        self.arrived: list[int] = []  # SIGINT/SIGTERM that came after the script ended
        self.lease_lost: str | None = None
        self._saved: dict[int, object] = {}
        self._handlers_set = threading.Lock()  # the heartbeat signals only while ours are in place

    def __enter__(self) -> ScriptSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM, GRACEFUL, LEASE_LOST):
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._handlers_set:
            saved, self._saved = self._saved, {}
            for signum, handler in saved.items():
                # A lease lost as the attempt ends must not kill the process with SIGUSR2's default action.
                signal.signal(signum, signal.SIG_IGN if signum == LEASE_LOST else handler)  # type: ignore[arg-type]

    def lose_lease(self, message: str) -> None:
        """From the heartbeat thread: another runner owns the job now; stop the script at once."""
        self.lease_lost = message
        with self._handlers_set:
            if self._saved:
                signal.pthread_kill(threading.main_thread().ident, LEASE_LOST)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == GRACEFUL:
            recorder.request_shutdown()
        elif signum == LEASE_LOST:
            if self.running and self.lease_lost is not None:
                raise LeaseLost(self.lease_lost)
        elif not self.running:
            self.arrived.append(signum)
        elif signum == signal.SIGTERM:
            raise Terminated("terminated (SIGTERM)")
        else:
            raise KeyboardInterrupt
