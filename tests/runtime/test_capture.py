"""OutputCapture on real pipes: what is printed outside blocks becomes the next block's lead, and
stopping the capture ends its pump thread."""

from __future__ import annotations

import os
import sys

from psflow.runtime.capture import OutputCapture


def _write(text: str) -> None:
    os.write(1, text.encode())  # at the descriptor, as a child process would


def test_outside_text_is_the_next_outermost_blocks_lead_and_each_block_keeps_its_own():
    capture = OutputCapture()
    capture.install()
    try:
        _write("before\n")
        lead, buffer = capture.open_outermost()
        _write("inside\n")
        inside = capture.close(buffer)
        empty_lead, second = capture.open_outermost()
        second_text = capture.close(second)
        _write("after\n")
        outside = capture.take_outside()
    finally:
        capture.uninstall()
    assert (lead, inside) == ("before\n", "inside\n")
    assert (empty_lead, second_text) == ("", "")
    assert outside == "after\n"


def test_uninstall_stops_the_pump_and_gives_the_descriptors_back():
    before = os.fstat(1).st_ino
    capture = OutputCapture()
    capture.install()
    pump = capture._thread
    capture.uninstall()
    assert pump is not None and not pump.is_alive()
    assert os.fstat(1).st_ino == before and sys.stdout is capture.real_stdout


def test_output_goes_through_in_whole_lines_no_write_longer_than_a_pipe_takes_at_once(monkeypatch):
    """Jobs run side by side share one stdout: a write of at most PIPE_BUF bytes to a pipe is never
    interleaved with another process's, so each write ends where a line ends (a longer one would tear)."""
    import select

    from psflow.runtime import capture

    writes: list[bytes] = []
    monkeypatch.setattr(capture, "_write_all", lambda fd, data: writes.append(data))
    lines = [f"line {n} ".encode() + b"x" * (n * 37 % 900) + b"\n" for n in range(200)]
    long_line = b"y" * (select.PIPE_BUF + 10) + b"\n"

    capture._write_lines(1, b"".join(lines) + long_line + b"tail")

    assert b"".join(writes) == b"".join(lines) + long_line + b"tail"
    assert all(len(piece) <= select.PIPE_BUF for piece in writes[:-1])
    assert all(piece.endswith(b"\n") for piece in writes[:-2])  # whole lines, up to the one too long
    assert len(writes) < len(lines) / 4  # many lines per write, not one each
