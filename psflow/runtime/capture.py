"""Per-block output capture that still shows everything live.

One tee per stream for the whole attempt (not per block: entering a block only
pushes a buffer). Output goes to the real stream and to every open block's
buffer, so an outer block's log contains its inner blocks' output too.
"""

from __future__ import annotations

import sys
from typing import TextIO


class _Tee:
    """A text stream that writes through to `stream` and appends to the open buffers."""

    def __init__(self, stream: TextIO, buffers: list[list[str]]) -> None:
        self._stream = stream
        self._buffers = buffers

    def write(self, text: str) -> int:
        for buffer in self._buffers:
            buffer.append(text)
        return self._stream.write(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):  # flush, fileno, isatty, encoding, …
        return getattr(self._stream, name)


class OutputCapture:
    """Installs the tees for an attempt; `open()`/`close()` bracket one block."""

    def __init__(self) -> None:
        self._buffers: list[list[str]] = []
        self._saved: tuple[TextIO, TextIO] | None = None

    def install(self) -> None:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, self._buffers)
        sys.stderr = _Tee(sys.stderr, self._buffers)

    def uninstall(self) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None

    def open(self) -> list[str]:
        buffer: list[str] = []
        self._buffers.append(buffer)
        return buffer

    def close(self, buffer: list[str]) -> str:
        """Stop collecting into `buffer` and return its text."""
        # Usually the last one; compared with `is` so equal (empty) buffers are not confused.
        for index in range(len(self._buffers) - 1, -1, -1):
            if self._buffers[index] is buffer:
                del self._buffers[index]
                break
        return "".join(buffer)

    @property
    def real_stdout(self) -> TextIO:
        """The stream under the tee: written there, text is shown but in no block's log."""
        return self._saved[0] if self._saved is not None else sys.stdout

    @property
    def real_stderr(self) -> TextIO:
        """Where psflow's own notes go: shown live, never in a block's log."""
        return self._saved[1] if self._saved is not None else sys.stderr
