"""Ending an attempt and waiting durably: `stop`, `wait_for`, `sleep`, `sleep_until`.

Under psflow each of these stops the attempt with a status (no process waits);
under plain `python` they do what a plain script would (exit 3, read the
environment, really sleep).
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

from psflow.domain import JobStatus
from psflow.errors import EXIT_STOPPED, PsflowError
from psflow.script import recorder
from psflow.script.recorder import Stop

if TYPE_CHECKING:
    from datetime import datetime, timedelta

_STATUS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class WaitTimeout(PsflowError, TimeoutError):
    """`wait_for(name, timeout=…)` waited longer than `timeout` for its input (catch it to escalate)."""

    exit_code = 1


def stop(status: str = JobStatus.WAITING, reason: str | None = None) -> NoReturn:
    """End this attempt now; the job gets `status` (resume it with `psflow resume --status STATUS`)."""
    if not isinstance(status, str) or not _STATUS.fullmatch(status) or status == JobStatus.RUNNING:
        raise ValueError(f"stop() needs a status word such as 'Waiting' (letters, digits, - or _), not {status!r}")
    if reason is not None and not isinstance(reason, str):
        raise ValueError(f"stop() reason must be a str or None, not {type(reason).__name__}")
    if recorder.current is None:
        print(f"stopped: {status}" + (f" ({reason})" if reason else ""), file=sys.stderr)
        raise SystemExit(EXIT_STOPPED)
    raise Stop(status, reason)


def wait_for(name: str, timeout: float | timedelta | None = None) -> Any:
    """The value of input `name` sent to this job (`psflow send JOB name=value`).

    Until it arrives, the attempt stops with status Waiting ("waiting for NAME").
    The value is recorded as block `wait_for:NAME` the first time it is read and
    given back on every later attempt, even if other values are sent afterwards.
    With `timeout`, a job still waiting that long after it first waited raises
    WaitTimeout (uncaught, the job fails). Under plain Python the value comes
    from the environment variable PSFLOW_INPUT_<NAME>, or the script stops (exit 3).
    """
    from psflow.durations import to_seconds
    from psflow.script.inputs import check_name

    check_name(name)
    seconds = None if timeout is None else to_seconds(timeout, "wait_for() timeout")
    if recorder.current is not None:
        return recorder.current.wait_for(name, seconds)
    from psflow.script.inputs import env_var, parse_value

    variable = env_var(name)
    if variable in os.environ:
        return parse_value(os.environ[variable])
    print(f"stopped: Waiting (waiting for {name}; set {variable} to give it)", file=sys.stderr)
    raise SystemExit(EXIT_STOPPED)


def sleep(duration: float | timedelta) -> None:
    """A durable timer: the job waits `duration` (seconds or a timedelta) without holding a process.

    The attempt stops with status Waiting and a due time; `psflow resume` and
    `psflow worker` leave the job alone until then. The due time is computed once,
    on the first attempt that reaches this call, and kept: a resumed job does not
    sleep again from scratch. Under plain Python it is time.sleep.
    """
    from psflow.durations import to_seconds

    seconds = to_seconds(duration, "sleep()")
    if recorder.current is None:
        time.sleep(seconds)
        return
    recorder.current.timer(lambda now: now + seconds)


def sleep_until(when: datetime) -> None:
    """A durable timer until `when` (a naive datetime is local time); see `sleep`. A past time continues at once."""
    from datetime import datetime

    if not isinstance(when, datetime):
        raise TypeError(f"sleep_until() needs a datetime, not {type(when).__name__}")
    due = when.timestamp()  # naive: local time; aware: its own zone
    if recorder.current is None:
        time.sleep(max(0.0, due - time.time()))
        return
    recorder.current.timer(lambda now: due)
