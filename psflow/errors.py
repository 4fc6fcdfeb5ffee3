"""Every error psflow raises for its callers, under one base class.

`PsflowError.exit_code` is what the `psflow` command exits with when the error
reaches it; the CLI prints the message in one line, never a traceback. This
module is a leaf: every layer may import it, and a script importing psflow pays
nothing for it.
"""

from __future__ import annotations

EXIT_COMPLETED = 0  # completed, or nothing to do
EXIT_FAILED = 1  # the script failed
EXIT_USAGE = 2  # bad input: nothing was written
EXIT_STOPPED = 3  # stopped with a status (Waiting, or a word given to stop())
EXIT_UNTRUSTED = 4  # source or job data from the database without a valid signature: nothing ran
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + 2, as shells report it
EXIT_TERMINATED = 143  # SIGTERM: 128 + 15


class PsflowError(Exception):
    """Base of psflow's errors; the message says what went wrong and what to do."""

    exit_code = EXIT_USAGE


class UsageError(PsflowError):
    """Bad input from the user: a wrong option, a missing file, an id no job has. Nothing was written."""


class UnknownJob(UsageError):
    """No job has that id or id prefix."""


class AmbiguousJob(UsageError):
    """More than one job starts with that prefix."""


class ScriptError(UsageError):
    """The script cannot be read (missing, a folder, unreadable, undecodable)."""


class StoreError(PsflowError):
    """The database cannot be used as asked: bad URL, unreachable, unwritable, wrong schema, refused write."""


class EditedRow(StoreError):
    """A job's row holds what psflow never writes there (it was edited by hand): that job is left as it
    is, and a command working through many jobs goes on with the others."""

    def __init__(self, message: str, job_id: object = None) -> None:
        super().__init__(message)
        self.job_id = job_id  # the job whose row it is, when known


class NotOwned(PsflowError):
    """A fenced write of an attempt found the job no longer that attempt's (its lease ran out and another
    runner, or a command, took it): nothing was written, and the attempt stops."""

    exit_code = EXIT_FAILED


class BlockError(PsflowError):
    """A block used in a way psflow cannot run; the message says where and what to do."""

    exit_code = EXIT_FAILED


class BlockArgumentError(BlockError):
    """A block given a name or an option it cannot use (the script is wrong)."""

    exit_code = EXIT_USAGE


class BlockNameError(BlockArgumentError):
    """A block name that is not a str."""


class StartError(BlockArgumentError):
    """start() or wait_jobs() cannot do what the script asks: a script or workflow that is not there,
    a job id that is not valid or is another job's, something that is not a handle, a bad timeout."""


class UntrustedError(PsflowError):
    """What the database says to run does not carry a valid signature of the deployment key: nothing ran."""

    exit_code = EXIT_UNTRUSTED


class DeploymentKeyError(UsageError):
    """The deployment key is missing, unreadable, or not the kind this command needs."""
