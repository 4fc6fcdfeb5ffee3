"""Run compiled code as one attempt of a job and record how it ended."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from types import CodeType
from typing import TYPE_CHECKING, Any, NoReturn

from psflow.clock import SYSTEM_CLOCK, Clock
from psflow.domain import JobStatus, Runner, RunOptions
from psflow.errors import EXIT_FAILED, StoreError
from psflow.runtime.attempt import Attempt
from psflow.runtime.capture import OutputCapture
from psflow.runtime.endings import COMPLETED, AttemptResult, Ending, ending_of
from psflow.runtime.environment import script_environment
from psflow.runtime.lease import Heartbeat
from psflow.runtime.signals import ScriptSignals
from psflow.runtime.waits import ChildStarter
from psflow.script import recorder
from psflow.script.recorder import LeaseLost

if TYPE_CHECKING:
    from psflow.store import Store


def run_attempt(
    store: Store,
    job_id: str,
    number: int,
    code: CodeType,
    *,
    script: str,
    argv: list[str],
    runner: Runner,
    options: RunOptions = RunOptions(),
    handback_status: str = JobStatus.WAITING,
    clock: Clock = SYSTEM_CLOCK,
    cwd: str | None = None,
    output_prefix: str | None = None,
    starter: ChildStarter | None = None,
) -> AttemptResult:
    """Execute `code` as attempt `number` of the job in a fresh `__main__` (in `cwd`, when given) and
    record how it ended. The attempt holds the job's lease meanwhile.

    `handback_status` is what the job goes back to if a worker shutdown stops it;
    `output_prefix` starts every line the job prints on the terminal (`[job] `);
    `starter` creates the child jobs its start() calls begin.
    """
    pid = os.getpid()  # a process the script forks is not this one (_end_fork)
    capture = OutputCapture(prefix=output_prefix)
    attempt = Attempt(
        store,
        job_id,
        number,
        runner=runner,
        capture=capture,
        clock=clock,
        options=options,
        handback_status=handback_status,
        starter=starter,
    )
    with ScriptSignals() as signals:

        def lost() -> None:
            signals.lose_lease(str(LeaseLost.of(job_id, number)))

        with Heartbeat(store, job_id, number, runner, on_lost=lost, live=attempt.live):
            with script_environment(script, argv, job_id, cwd) as module:
                ending, lease_lost, outside = _execute(code, module.__dict__, attempt, capture, signals, store)
                if os.getpid() != pid:
                    _end_fork(ending)
            recorded = not lease_lost and _finish(store, attempt, ending, outside)
    return _result(attempt, ending, recorded)


def _end_fork(ending: Ending) -> NoReturn:
    """A process the script forked reached the script's end (a `sys.exit()` in it, say): as under
    plain Python it only exits, with that code; the attempt is its parent's to record."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(ending.exit_code)


def _finish(store: Store, attempt: Attempt, ending: Ending, outside: str) -> bool | None:
    """Record how the attempt ended: False if its lease was lost meanwhile (nothing recorded); None if
    the database trouble that ended it, already told, keeps its end from being recorded too."""
    try:
        return store.finish_attempt(
            attempt.job_id,
            attempt.number,
            status=ending.status,
            reason=ending.reason,
            due_at=ending.due,
            waits_for=ending.waits_for,
            output=outside or None,
            error=ending.error,
            awaits=ending.awaits,
            result=attempt.result_text,
        )
    except StoreError:
        if not ending.trouble:
            raise
        return None


def _result(attempt: Attempt, ending: Ending, recorded: bool | None) -> AttemptResult:
    """What the caller learns of the attempt; not `recorded`: another runner has the job now."""
    ran, replayed = attempt.lanes.ran, attempt.lanes.replayed
    if recorded is None:  # still Running, its runner gone: the next resume on this host takes it at once
        unrecorded = (
            f"its end could not be recorded either: `psflow resume --job {attempt.job_id}` takes it at once here"
        )
        return AttemptResult(
            status=JobStatus.RUNNING, reason=unrecorded, exit_code=ending.exit_code, ran=ran, replayed=replayed
        )
    if not recorded:
        lost = str(LeaseLost.of(attempt.job_id, attempt.number))
        return AttemptResult(status="lost", reason=lost, exit_code=EXIT_FAILED, ran=ran, replayed=replayed, lost=True)
    return AttemptResult(
        status=ending.status,
        reason=ending.reason,
        exit_code=ending.exit_code,
        ran=ran,
        replayed=replayed,
        due=ending.due,
    )


def _execute(
    code: CodeType,
    namespace: dict[str, Any],
    attempt: Attempt,
    capture: OutputCapture,
    signals: ScriptSignals,
    store: Store,
) -> tuple[Ending, bool, str]:
    """Run the script with its output captured and its blocks recorded by `attempt`: how it ended,
    whether it lost the lease, and what it printed after its last block."""
    capture.install()
    buffering = _line_buffered()
    recorder.activate(attempt)
    told, store.notice = store.notice, _telling(capture)
    try:
        exec(code, namespace)
        signals.running = False
        return COMPLETED, False, capture.take_outside()
    except BaseException as error:
        signals.running = False  # first: a signal from here on is not the script's to see
        ending = ending_of(error, capture.real_stderr)
        if error is attempt.block_failure:  # the block's run holds the traceback: not twice
            ending = replace(ending, error=None)
        return ending, isinstance(error, LeaseLost), capture.take_outside()
    finally:
        store.notice = told
        recorder.activate(None)
        for stream, was in buffering:
            stream.reconfigure(line_buffering=was)
        capture.uninstall()


def _line_buffered() -> list[tuple[io.TextIOWrapper, bool]]:
    """The script's sys.stdout and sys.stderr written a line at a time, as on a terminal, while
    captured: what it prints stays before what a child it starts next prints (without
    PYTHONUNBUFFERED, a pipe's block buffer held it back until the block's end). What they were."""
    streams = [stream for stream in (sys.stdout, sys.stderr) if isinstance(stream, io.TextIOWrapper)]
    before = [(stream, stream.line_buffering) for stream in streams]
    for stream in streams:
        stream.reconfigure(line_buffering=True)
    return before


def _telling(capture: OutputCapture) -> Callable[[str], None]:
    """The store's word that it keeps trying a troubled database, on the terminal, not in the job's output."""

    def tell(message: str) -> None:
        print(f"psflow: {message}", file=capture.real_stderr, flush=True)

    return tell
