"""The real `psflow` command on a pseudo-terminal (pty): what a person at a terminal would receive."""

from __future__ import annotations

import os
import re
import select
import struct
import subprocess
from pathlib import Path

from support.cli import PSFLOW

STYLE = re.compile(r"\x1b\[[0-9;]*m")  # SGR: colour, bold, … (what rich itself writes on a terminal)


def on_terminal(
    db_url: str, cwd: Path, *args: str, stdout_tty: bool = True, env: dict | None = None
) -> tuple[int, str, str]:
    """Run `psflow ARGS` with stderr (and stdout, unless `stdout_tty` is False) on a 160x40 pty.

    Returns (exit code, what the terminal got, stdout when it was a pipe).
    """
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    unset = ("PSFLOW_JOB_ID", "NO_COLOR", "CI", "COLUMNS", "LINES")  # the size is the pty's, not pytest-xdist's 80x24
    environment = {key: value for key, value in os.environ.items() if key not in unset}
    environment.update({"PSFLOW_DB": db_url, "TERM": "xterm-256color", **(env or {})})
    process = subprocess.Popen(
        [PSFLOW, *args],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    received = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                raise AssertionError(f"no output for 60s; so far: {received!r}")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            received += data
    finally:
        os.close(master)
    piped = process.stdout.read().decode() if process.stdout else ""
    return process.wait(timeout=60), received.decode(), piped
