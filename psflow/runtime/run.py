"""Run compiled code as one attempt of a job and record how it ended."""

from __future__ import annotations

import sys
from types import CodeType
from typing import TYPE_CHECKING

from psflow.clock import SYSTEM_CLOCK, Clock
from psflow.domain import JobStatus, RunOptions, Runner
from psflow.runtime.attempt import Attempt
from psflow.runtime.capture import OutputCapture
from psflow.runtime.endings import COMPLETED, AttemptResult, ending_of
from psflow.runtime.environment import script_environment
from psflow.script import recorder

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
) -> AttemptResult:
    """Execute `code` as attempt `number` of the job in a fresh `__main__` and record how it ended.

    `handback_status` is what the job goes back to if a worker shutdown stops it.
    """
    capture = OutputCapture()
    attempt = Attempt(
        store, job_id, number, runner=runner, capture=capture, clock=clock, options=options,
        handback_status=handback_status,
    )
    with script_environment(script, argv, job_id) as module:
        capture.install()
        recorder.activate(attempt)
        try:
            exec(code, module.__dict__)
        except BaseException as error:  # noqa: BLE001 - every ending is turned into a status
            ending = ending_of(error, capture.real_stderr)
        else:
            ending = COMPLETED
        finally:
            recorder.activate(None)
            capture.uninstall()
            sys.stdout.flush()
    store.finish_attempt(job_id, number, status=ending.status, reason=ending.reason, due_at=ending.due)
    return AttemptResult(
        status=ending.status, reason=ending.reason, exit_code=ending.exit_code, ran=attempt.ran,
        replayed=attempt.replayed_count, due=ending.due,
    )
