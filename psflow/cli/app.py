"""The `psflow` command: the typer app, the options every command shares, and the one error handler.

Commands live in psflow.cli.commands_* by area (psflow.cli imports them, which registers them);
each parses, calls psflow.service and renders. A command imports the services it calls when it
runs: every run of psflow pays for what is imported at start-up, so `psflow --help` loads no
service and `psflow show` no database (tests/unit/test_startup.py, bench/bench_startup.py).

Any psflow error reaching `main` is printed as one line (a script's diagnostics with file:line:col)
and exits with the error's code, never a traceback; a reader that goes away (`psflow jobs | head -1`)
ends the command quietly, exit 0.

Exit codes: 0 completed · 1 the script failed · 2 bad input or usage ·
3 stopped with a status (Waiting or another word given to stop()) · 4 refused:
what the database says to run has no valid signature (psflow.service.trust).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer
from typer.core import TyperGroup

from psflow.cli.messages import say
from psflow.errors import PsflowError

if TYPE_CHECKING:
    from psflow.store import Store


class _ReaderGone(Exception):
    """The reader of psflow's output went away (`psflow jobs | head -1`): not an error."""


class _Commands(TyperGroup):
    """psflow's commands. A closed pipe is turned into _ReaderGone here, before click would make
    it exit 1 (click turns any EPIPE into exit 1); `main` ends the command quietly with 0."""

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]  # typer hands its own Context
        try:
            return super().invoke(ctx)
        except BrokenPipeError as error:
            raise _ReaderGone() from error


app = typer.Typer(
    cls=_Commands,
    name="psflow",
    help="Make a plain Python script resumable: blocks run once per job, their results live in a database.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


@contextmanager
def bulk_reading() -> Iterator[None]:
    """The cyclic garbage collector paused while a command builds and prints a whole job's history:
    100,000 block runs make hundreds of thousands of small rows and dicts (none in a cycle), and the
    collections they would trigger cost ~40% of `psflow job`'s time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


DbOption = typer.Option(
    None,
    "--db",
    help="Database URL, connection string or SQLite path "
    "(default: $PSFLOW_DB, then the config file, then the user data folder).",
)
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts and tools.")
ReplayOutputOption = typer.Option(
    False, "--replay-output", help="Print a replayed block's recorded output again, as if it had run."
)
RerunChangedOption = typer.Option(
    False,
    "--rerun-changed",
    help="Run a completed block again if its code changed since it completed (default: replay it, with a warning).",
)


def connect(db: str | None, *, create: bool = True) -> Store:
    """The database a command's --db names (psflow.service.setup.connect), loaded only by the
    commands that use one."""
    from psflow.service.setup import connect

    return connect(db, create=create)


def fail(message: str) -> NoReturn:
    """Bad usage found by the CLI itself: one line, exit 2."""
    say(f"error: {message}", error=True)
    raise typer.Exit(2)


def report_error(error: PsflowError) -> None:
    """How a psflow error is shown: a script's diagnostics as they are, anything else in one line."""
    transform = sys.modules.get("psflow.transform")  # not loaded: the error cannot be a TransformError
    if transform is not None and isinstance(error, transform.TransformError):
        for diagnostic in error.diagnostics:
            say(diagnostic.format(), error=True)
    else:
        say(f"error: {error}", error=True)


def _print_version(wanted: bool) -> None:
    if wanted:
        from psflow import __version__

        print(f"psflow {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print psflow's version and exit."
    ),
) -> None:
    """Options of psflow itself, given before any command (`psflow --version`)."""


def main() -> None:
    """The `psflow` console script: the command's exit code, or psflow's error as one line.

    A reader that stops reading (`psflow jobs | head -1`) is not an error: psflow stops
    printing and exits 0, with no traceback and no complaint when Python exits.
    """
    _standard_streams()
    try:
        app(prog_name="psflow")
    except PsflowError as error:
        report_error(error)
        sys.exit(error.exit_code)
    except _ReaderGone:
        _quiet_stdout()
        sys.exit(0)
    except SystemExit:
        try:
            sys.stdout.flush()  # a pipe closed after the last write shows here, not at interpreter exit
        except BrokenPipeError:
            _quiet_stdout()
        raise


def _standard_streams() -> None:
    """Started with stdin, stdout or stderr closed (`>&-`), psflow gives it /dev/null, as a daemon
    does: a job's output is captured at those descriptors."""
    import os

    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
            setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115 (the process's own stream)


def _quiet_stdout() -> None:
    """Whatever is still buffered for stdout goes nowhere: its reader is gone."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
