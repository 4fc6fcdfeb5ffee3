"""What psflow tells the user on stderr: one-line messages, and a progress bar while many jobs run.

psflow's own messages go to stderr so that a script's stdout stays the script's.
While a progress bar is shown (stderr a terminal, many jobs), they print above it,
and so does everything the scripts and worker processes write.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import TaskID

from psflow.cli.render import console, shown

_bar: Any = None  # the rich Progress on screen, if any: say() prints above it
_relay: _Relay | None = None  # while it is: what scripts and worker processes write goes above it too


def say(message: str, *, error: bool = False) -> None:
    """A psflow message on stderr, escaped (psflow.cli.render.shown) but for its line breaks:
    a message may quote a stored name or reason, and may span lines (a script's diagnostics)."""
    message = shown(message, keep="\n")
    if _bar is not None:
        from rich.text import Text

        sys.stdout.flush()
        sys.stderr.flush()
        if _relay is not None:
            _relay.drain()
        _bar.console.print(Text(f"psflow: {message}"), soft_wrap=True)
        return
    print(f"psflow: {message}", file=sys.stderr)


class JobProgress:
    """A progress bar for `resume`/`worker` going through many jobs, on stderr.

    Shown only when stderr is a terminal (never in pipes, never with CI set or
    TERM=dumb) and there are at least MIN_JOBS jobs, or an open-ended count (a
    worker). While it is shown, psflow's lines print above it (see say()), and so
    does everything written to stderr — and to stdout when that is the same
    terminal — by this process and its worker processes (see _Relay).
    """

    MIN_JOBS = 3

    def __init__(self, label: str) -> None:
        self.label = label
        self._task: TaskID | None = None
        self._done = 0

    def __enter__(self) -> JobProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        global _bar, _relay
        if self._task is None:
            return
        try:
            if _relay is not None:
                _relay.close()
        finally:
            _bar.stop()
            _bar = _relay = None

    def expect(self, total: int | None) -> None:
        """Going through `total` jobs (None: as many as come); shows the bar if worth it."""
        global _bar, _relay
        if _bar is not None or not _bar_wanted() or (total is not None and total < self.MIN_JOBS):
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        width, height = os.get_terminal_size(sys.stderr.fileno())
        sys.stdout.flush()
        sys.stderr.flush()
        terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8", errors="replace")
        screen = console(stderr=True, file=terminal, width=width or 80, height=height or 25)
        counter = MofNCompleteColumn() if total is not None else TextColumn("{task.completed} done")
        bar = Progress(
            TextColumn(f"psflow: {self.label}"),
            BarColumn(),
            counter,
            TimeElapsedColumn(),
            console=screen,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = bar.add_task(self.label, total=total, completed=self._done)
        _relay = _Relay(screen, (1, 2) if _same_terminal() else (2,))
        _bar = bar
        bar.start()

    def advance(self) -> None:
        self.reach(self._done + 1)

    def reach(self, done: int, total: int | None = None) -> None:
        """`done` jobs so far (of `total`, shown now if not yet): for work done in batches."""
        if total is not None:
            self.expect(total)
        self._done = done
        if _bar is not None and self._task is not None:
            _bar.update(self._task, completed=self._done)


class _Relay:
    """Output written to file descriptors `fds` goes through a pipe and is printed above the bar.

    At the descriptor level, so it covers this process, the worker processes it
    starts (they inherit the pipe) and the programs scripts run: nothing writes
    into the bar's line. Scripts see a pipe there, not a terminal, meanwhile.
    """

    def __init__(self, console: Any, fds: tuple[int, ...]) -> None:
        import threading

        self.console = console
        self._lock = threading.RLock()  # say() may drain from a signal handler while draining
        self._partial = b""
        self._read, self._write = os.pipe()
        self._saved = {fd: os.dup(fd) for fd in fds}
        for fd in fds:
            os.dup2(self._write, fd)
        self._environ = os.environ.get("PYTHONUNBUFFERED")
        os.environ["PYTHONUNBUFFERED"] = "1"  # worker processes write as they go, not at exit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="psflow-output-relay", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        import select

        while not self._stop.is_set():
            if select.select([self._read], [], [], 0.05)[0]:
                self.drain()

    def drain(self) -> None:
        """Print every complete line waiting in the pipe (say() calls this first, to keep order)."""
        import select

        from rich.text import Text

        with self._lock:
            while select.select([self._read], [], [], 0)[0]:
                data = os.read(self._read, 65536)
                if not data:
                    break
                *lines, self._partial = (self._partial + data).split(b"\n")
                for line in lines:
                    self.console.print(Text.from_ansi(line.decode(errors="replace")), soft_wrap=True)

    def close(self) -> None:
        """Put the descriptors back and print what is left."""
        from rich.text import Text

        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            for fd, saved in self._saved.items():
                os.dup2(saved, fd)
                os.close(saved)
            if self._environ is None:
                os.environ.pop("PYTHONUNBUFFERED", None)
            else:
                os.environ["PYTHONUNBUFFERED"] = self._environ
            self._stop.set()
            self._thread.join()
            self.drain()
            if self._partial:
                self.console.print(Text.from_ansi(self._partial.decode(errors="replace")), soft_wrap=True)
            os.close(self._write)
            os.close(self._read)


def _bar_wanted() -> bool:
    if os.name != "posix" or os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _same_terminal() -> bool:
    """Is stdout the terminal stderr is? Then it goes above the bar too; otherwise it is left alone."""
    try:
        return sys.stdout.isatty() and os.path.samestat(os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno()))
    except (AttributeError, OSError, ValueError):
        return False
