"""The text kept of what a block printed: its last characters only, so a block printing 500 MB never holds 500 MB."""

from __future__ import annotations

import os
from collections import deque

DEFAULT_TAIL = 4 * 1024 * 1024  # characters kept per block run (PSFLOW_OUTPUT_TAIL to change)


def output_tail() -> int:
    try:
        return max(1024, int(os.environ.get("PSFLOW_OUTPUT_TAIL", DEFAULT_TAIL)))
    except ValueError:
        return DEFAULT_TAIL


class Buffer:
    """The text captured for one block run (or outside blocks): its last `limit` characters."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size, self.dropped = limit, 0, 0
        self._chunks: deque[str] = deque()

    def append(self, text: str) -> None:
        self._chunks.append(text)
        self.size += len(text)
        while self.size > self.limit:
            head, excess = self._chunks[0], self.size - self.limit
            if len(head) <= excess:
                self._chunks.popleft()
                cut = len(head)
            else:
                self._chunks[0] = head[excess:]
                cut = excess
            self.size -= cut
            self.dropped += cut

    def tail(self, limit: int) -> str:
        """The last `limit` characters (or all), without the note about dropped ones."""
        text = "".join(self._chunks)
        return text[-limit:] if len(text) > limit else text

    def text(self) -> str:
        if not self.dropped:
            return "".join(self._chunks)
        note = (
            f"[psflow: the first {self.dropped} characters of this output were dropped; "
            f"the last {self.limit} are kept]\n"
        )
        return note + "".join(self._chunks)
