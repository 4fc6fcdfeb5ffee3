"""The real `psflow` console script in a subprocess, the same command run in this process, and
what its answers must look like."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def _console_script() -> str:
    """The `psflow` installed beside this interpreter (what `pip install` made), else the one on PATH.
    Not PATH first: a pyenv shim there re-execs through bash and pyenv, 0.2 s per command."""
    beside = Path(sys.executable).with_name("psflow")
    return str(beside) if beside.exists() else shutil.which("psflow") or "psflow"


PSFLOW = _console_script()


def environment(db_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a psflow command on `db_url`: no job id leaking in, no colours, and
    no terminal size (pytest-xdist's workers set COLUMNS=80 and LINES=24, which rich would obey)."""
    env = {key: value for key, value in os.environ.items() if key not in ("PSFLOW_JOB_ID", "COLUMNS", "LINES")}
    env.update({"PSFLOW_DB": db_url, "NO_COLOR": "1", **(extra or {})})
    return env


def run(db_url: str, cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """`psflow ARGS` to its end: a CompletedProcess with text stdout and stderr."""
    return subprocess.run(
        [PSFLOW, *args],
        cwd=cwd,
        env=environment(db_url, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        encoding="utf-8",
        errors="backslashreplace",
        stdin=subprocess.DEVNULL,
    )


def start(db_url: str, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`psflow ARGS` in the background (text pipes), on `db_url`, in a process group of its own (as a
    terminal or a service manager starts it): `os.killpg(process.pid, …)` signals it like Ctrl-C does.
    It does not outlive the test (end_started)."""
    process = subprocess.Popen(
        [PSFLOW, *args],
        cwd=cwd,
        env=environment(db_url, env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="backslashreplace",
        start_new_session=True,
    )
    _started.append(process)
    return process


_started: list[subprocess.Popen] = []  # what start() began during the running test


def end_started() -> None:
    """Kill the process group of each command start() began that is still there, and reap it: a test
    that failed half-way would leave its gated job waiting for a gate nobody opens."""
    while _started:
        process = _started.pop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the group: whatever the job itself started too
        process.wait(timeout=60)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def invoke(db_url: str, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`psflow ARGS` run in this process through `psflow.cli.main` (its one error handler included):
    the answer `run` gives (exit code, stdout, stderr), without starting psflow's own process. What
    the worker processes `resume` starts print to descriptors 1 and 2 is captured too. For what a
    command prints and exits with; `run` for what only a real process shows."""
    from psflow.cli import main

    saved = (dict(os.environ), os.getcwd(), sys.argv)
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    wanted = environment(db_url, env)  # read before clearing: PSFLOW_CONFIG (the test's, never the user's) stays
    os.environ.clear()
    os.environ.update(wanted)
    os.chdir(cwd)
    sys.argv = ["psflow", *args]
    try:
        with (
            _descriptors_captured() as descriptors,
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            try:
                main()
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        os.chdir(saved[1])
        sys.argv = saved[2]
    out, err = descriptors
    return subprocess.CompletedProcess(["psflow", *args], code, out + stdout.getvalue(), err + stderr.getvalue())


@contextlib.contextmanager
def _descriptors_captured():
    """Descriptors 1 and 2 go to temporary files meanwhile; the list yielded holds their text afterwards."""
    import tempfile

    captured: list[str] = []
    files = [tempfile.TemporaryFile() for _ in (1, 2)]
    saved = [os.dup(fd) for fd in (1, 2)]
    for fd, file in zip((1, 2), files, strict=True):
        os.dup2(file.fileno(), fd)
    try:
        yield captured
    finally:
        for fd, original in zip((1, 2), saved, strict=True):
            os.dup2(original, fd)
            os.close(original)
        for file in files:
            file.seek(0)
            captured.append(file.read().decode("utf-8", "backslashreplace"))
            file.close()


def job_id_of(result: subprocess.CompletedProcess) -> str:
    """The job id from psflow's own summary line on stderr (`psflow: job ID: …`)."""
    for line in result.stderr.splitlines():
        if line.startswith("psflow: job "):
            return line.split()[2].rstrip(":")
    raise AssertionError(f"no job line in stderr:\n{result.stderr}")


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, every fragment in the message, nothing on stdout, no Python traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"
    assert "Traceback" not in output, output
    assert result.stdout == "", result.stdout
