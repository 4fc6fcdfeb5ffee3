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
