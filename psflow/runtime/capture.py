"""Everything a job prints, captured at the file-descriptor level and still shown live.

Like pytest's `--capture=fd`: during an attempt, descriptors 1 and 2 are pipes that a
pump thread reads, so the output of child processes, C extensions and `os.write`
is recorded too, not only Python's `print`. Each chunk is written through to the
real descriptor (with a `[job] ` prefix on every line when asked) and added to
every open block's buffer — an outer block's log holds its inner blocks' output —
or, outside blocks, to the attempt's own buffer. Buffers keep a bounded tail
(psflow.runtime.buffers), so a block printing 500 MB never holds 500 MB. Bytes that
are not UTF-8 are kept as backslash escapes. Where Python's sys.stdout is not
descriptor 1 (a caller redirected it), what is written to it is captured at the
Python level instead.

While calls of a map run in threads (psflow.script.fanout), sys.stdout and sys.stderr
route what a call's thread writes to that call's blocks, and show it live, and in the
blocks around the map, line by line with the call's key as prefix (`[Deploy[web1]] `).
Bytes written to the descriptors themselves (child processes, C code, os.write) cannot
be told apart by thread: they go where they go without a map, to the blocks around it.
"""

from __future__ import annotations

import codecs
import os
import select
import sys
import threading
from typing import Any, TextIO

from psflow.runtime.buffers import Buffer, output_tail

LIVE_TAIL = 64 * 1024  # characters of the latest output shown by `psflow logs --follow`


class OutputCapture:
    """Installs the pipes for an attempt; `open()`/`close()` bracket one block."""

    def __init__(self, *, prefix: str | None = None, limit: int | None = None) -> None:
        self.prefix = prefix.encode() if prefix else b""
        self.limit = limit or output_tail()
        self._lock = threading.RLock()
        self._buffers: list[Buffer] = []
        self._outside = Buffer(self.limit)
        self._written = 0
        self._pipes: dict[int, int] = {}  # descriptor → read end of its pipe
        self._polled: tuple[Any, dict[int, int]] | None = None  # a poll of the read ends, and their descriptors
        self._real: dict[int, int] = {}  # descriptor → a duplicate of what it was
        self._line_start = {1: True, 2: True}
        self._decoders = {fd: codecs.getincrementaldecoder("utf-8")("backslashreplace") for fd in (1, 2)}
        self._saved_streams: tuple[TextIO, TextIO] | None = None
        self._opened: list[TextIO] = []  # streams on duplicated descriptors this capture made
        self._lanes = 0  # map calls running now, each in a thread with its own buffers (_Lane)
        self._local = threading.local()  # .lane: this thread's, while it runs a map's call
        self._stop = threading.Event()
        self._wake: tuple[int, int] | None = None  # a pipe whose write end wakes the pump to stop at once
        self._thread: threading.Thread | None = None
        self.real_stdout: TextIO = sys.stdout
        self.real_stderr: TextIO = sys.stderr

    # ---- the attempt ----------------------------------------------------------

    def install(self) -> None:
        self._flush()
        self._saved_streams = (sys.stdout, sys.stderr)
        for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
            self._real[fd] = os.dup(fd)
            read, write = os.pipe()
            os.dup2(write, fd)
            os.close(write)
            os.set_blocking(read, False)
            self._pipes[fd] = read
            if _fd_of(stream) != fd:  # a caller's own stream: capture it where it is written
                setattr(sys, "stdout" if fd == 1 else "stderr", _Tee(stream, self))
        poll = select.poll()
        for read in self._pipes.values():
            poll.register(read, select.POLLIN)
        self._polled = (poll, {read: fd for fd, read in self._pipes.items()})
        self.real_stdout = self._real_stream(1, self._saved_streams[0])
        self.real_stderr = self._real_stream(2, self._saved_streams[1])
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._pump, name="psflow-output", daemon=True)
        self._thread.start()

    def uninstall(self) -> None:
        if self._saved_streams is None:
            return
        self.drain()
        self._polled = None  # drains from here on find nothing: the pipes are closed below
        self._stop.set()
        if self._wake is not None:
            os.write(self._wake[1], b"x")  # not a select timeout: every attempt would wait for it
        if self._thread is not None:
            self._thread.join()
        if self._wake is not None:
            os.close(self._wake[0])
            os.close(self._wake[1])
            self._wake = None
        sys.stdout, sys.stderr = self._saved_streams
        for stream in self._opened:
            stream.close()
        self._opened.clear()
        for fd, real in self._real.items():
            os.dup2(real, fd)
            os.close(real)
            os.close(self._pipes[fd])
        self._pipes.clear()
        self._saved_streams = None
        self.real_stdout, self.real_stderr = sys.stdout, sys.stderr

    # ---- blocks ---------------------------------------------------------------

    def open(self) -> Buffer:
        self.drain()  # what came before belongs to whatever was open before
        if self._lanes:
            lane = getattr(self._local, "lane", None)
            if lane is not None:
                buffer = Buffer(self.limit)
                lane.buffers.append(buffer)
                return buffer
        return self._push()

    def open_outermost(self) -> tuple[str, Buffer]:
        """take_outside() then open(), with one drain between them instead of two: the hot path."""
        self.drain()
        text = self._swap_outside()
        return text, self._push()

    def _push(self) -> Buffer:
        buffer = Buffer(self.limit)
        with self._lock:
            self._buffers.append(buffer)
        return buffer

    def close(self, buffer: Buffer) -> str:
        """Stop collecting into `buffer` and return its text."""
        self.drain()
        lane = getattr(self._local, "lane", None) if self._lanes else None
        buffers = lane.buffers if lane is not None else self._buffers
        with self._lock:
            for index in range(len(buffers) - 1, -1, -1):  # `is`: equal buffers are not confused
                if buffers[index] is buffer:
                    del buffers[index]
                    break
        return buffer.text()

    # ---- the calls of a map ---------------------------------------------------

    def lane_of_thread(self) -> _Lane | None:
        """The lane of the thread that calls a map (None: the script's own): its calls' lanes' parent."""
        return getattr(self._local, "lane", None) if self._lanes else None

    def enter_lane(self, label: str, parent: _Lane | None) -> None:
        """This thread runs the call keyed `label` of a map called in lane `parent`: what it writes to
        sys.stdout/sys.stderr is its own."""
        self._local.lane = _Lane(f"[{label}] ", parent)
        with self._lock:
            self._lanes += 1
            if self._lanes == 1 and self._saved_streams is not None:
                sys.stdout = _Routed(sys.stdout, 1, self)
                sys.stderr = _Routed(sys.stderr, 2, self)

    def leave_lane(self) -> None:
        lane = self._local.lane
        for fd in (1, 2):
            if lane.partial[fd]:
                self._lane_lines(lane, fd, lane.partial[fd] + "\n")
        self._local.lane = None
        with self._lock:
            self._lanes -= 1
            if not self._lanes:
                for name in ("stdout", "stderr"):
                    stream = getattr(sys, name)
                    if isinstance(stream, _Routed):
                        setattr(sys, name, stream.inner)

    def _lane_write(self, fd: int, text: str) -> bool:
        """Text a thread wrote to sys.stdout/sys.stderr: a map call's goes to its buffers at once, and
        line by line, prefixed, to the terminal and the blocks around the map (True); any other
        thread's is not taken (False)."""
        lane = getattr(self._local, "lane", None)
        if lane is None:
            return False
        with self._lock:
            for buffer in lane.buffers:
                buffer.append(text)
        pending = lane.partial[fd] + text
        cut = pending.rfind("\n") + 1
        lane.partial[fd] = pending[cut:]
        if cut:
            self._lane_lines(lane, fd, pending[:cut])
        return True

    def _lane_lines(self, lane: _Lane, fd: int, lines: str) -> None:
        shown = "".join(lane.prefix + line for line in lines.splitlines(keepends=True))
        with self._lock:
            above = lane.parent
            while above is not None:  # the blocks of the call that runs this map, and of its caller's …
                for buffer in above.buffers:
                    buffer.append(shown)
                above = above.parent
            for buffer in self._buffers or (self._outside,):
                buffer.append(shown)
            self._written += len(shown)
            if self._saved_streams is not None:
                original = self._saved_streams[fd - 1]
                if _fd_of(original) == fd:
                    self._show(fd, shown.encode("utf-8", "backslashreplace"))
                    return
                original.write(shown)

    def take_outside(self) -> str:
        """What was printed outside every block since the last call (the next block's lead, or the attempt's end)."""
        self.drain()
        return self._swap_outside()

    def _swap_outside(self) -> str:
        with self._lock:
            if not self._outside.size and not self._outside.dropped:
                return ""  # nothing printed since: the empty buffer serves again
            text, self._outside = self._outside.text(), Buffer(self.limit)
        return text

    def live(self) -> tuple[int, str]:
        """(characters captured so far, the text of the outermost open block — or outside blocks — so far,
        its last LIVE_TAIL characters): for `psflow logs --follow`."""
        with self._lock:
            buffer = self._buffers[0] if self._buffers else self._outside
            return self._written, buffer.tail(LIVE_TAIL)

    def show_again(self, text: str) -> None:
        """Stored output shown again (`--replay-output`): where live output goes, prefixed like it, not captured."""
        self.drain()
        with self._lock:
            if self._saved_streams is not None and _fd_of(self._saved_streams[0]) == 1:  # as live output goes
                self._show(1, text.encode("utf-8", "backslashreplace"))
                return
        self.real_stdout.write(text)
        self.real_stdout.flush()

    def drain(self) -> None:
        """Take in everything written so far, from this process and its children."""
        self._flush()
        with self._lock:
            if self._polled is None:
                return
            poll, descriptors = self._polled
            # One poll of every pipe, set up once: most drains find nothing, and a read that finds nothing raises.
            for read, _ in poll.poll(0):
                self._read_available(descriptors[read])

    # ---- the pump -------------------------------------------------------------

    def _pump(self) -> None:
        while not self._stop.is_set():
            pipes = list(self._pipes.values())
            if not pipes or self._wake is None:
                return
            try:
                ready, _, _ = select.select([*pipes, self._wake[0]], [], [])
            except (OSError, ValueError):
                return
            if ready:
                with self._lock:
                    for fd, read in list(self._pipes.items()):
                        if read in ready:
                            self._read_available(fd)

    def _read_available(self, fd: int) -> None:
        while True:
            try:
                data = os.read(self._pipes[fd], 65536)
            except (BlockingIOError, KeyError, OSError):
                return
            if not data:
                return
            self._show(fd, data)
            self.deliver(self._decoders[fd].decode(data))

    def deliver(self, text: str) -> None:
        """Add captured text to the open blocks (or to the output outside blocks) and to the live tail."""
        if not text:
            return
        with self._lock:
            for buffer in self._buffers or (self._outside,):
                buffer.append(text)
            self._written += len(text)

    def _show(self, fd: int, data: bytes) -> None:
        """Write `data` through to the real descriptor, each line prefixed when a prefix is set."""
        if self.prefix:
            lines = data.split(b"\n")
            out = []
            for index, line in enumerate(lines):
                if line and self._line_start[fd]:
                    out.append(self.prefix)
                out.append(line)
                if index < len(lines) - 1:
                    out.append(b"\n")
                    self._line_start[fd] = True
                elif line:
                    self._line_start[fd] = False
            data = b"".join(out)
        _write_lines(self._real[fd], data)

    def _real_stream(self, fd: int, original: TextIO) -> TextIO:
        """Where psflow's own notes go: shown live, never in a block's log."""
        if _fd_of(original) != fd:
            return original
        stream = os.fdopen(os.dup(self._real[fd]), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
        self._opened.append(stream)
        return stream

    @staticmethod
    def _flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:  # noqa: SIM105 (contextlib.suppress costs more, and this runs twice per block)
                stream.flush()
            except (OSError, ValueError):
                pass


class _Tee:
    """A caller's own text stream: written through, and captured."""

    def __init__(self, stream: TextIO, capture: OutputCapture) -> None:
        self._stream, self._capture = stream, capture

    def write(self, text: str) -> int:
        self._capture.deliver(text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, …
        return getattr(self._stream, name)


class _Lane:
    """What one call of a map has written: its open blocks' buffers, and the unfinished line of each stream."""

    __slots__ = ("buffers", "parent", "partial", "prefix")

    def __init__(self, prefix: str, parent: _Lane | None) -> None:
        self.prefix, self.parent = prefix, parent
        self.buffers: list[Buffer] = []
        self.partial = {1: "", 2: ""}


class _Routed:
    """sys.stdout or sys.stderr while a map's calls run: a call's thread writes to its own blocks."""

    def __init__(self, inner: TextIO, fd: int, capture: OutputCapture) -> None:
        self.inner, self._fd, self._capture = inner, fd, capture

    def write(self, text: str) -> int:
        if self._capture._lane_write(self._fd, text):
            return len(text)
        return self.inner.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, …
        return getattr(self.inner, name)


def _fd_of(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def _write_lines(fd: int, data: bytes) -> None:
    """`data` in writes of at most PIPE_BUF bytes that end where lines end: a write that size is atomic
    on a pipe, so the lines of jobs run side by side onto one stdout never tear (one longer line can)."""
    start = 0
    while start < len(data):
        end = start + select.PIPE_BUF
        if end < len(data):
            cut = data.rfind(b"\n", start, end)
            end = cut + 1 if cut >= 0 else end
        _write_all(fd, data[start:end])
        start = end


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        except OSError:  # the terminal or pipe is gone: keep capturing anyway
            return
        data = data[written:]
