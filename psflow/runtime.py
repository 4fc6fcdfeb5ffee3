"""Run a compiled script as one attempt of a job.

`Attempt` is the recorder blocks report to: it decides replay, saves each
completed block in one committed transaction, and captures output. `run_attempt`
executes the code in a fresh `__main__` with the job's argv and environment and
turns however the script ended into a status and an exit code.
"""

from __future__ import annotations

import builtins
import dataclasses
import os
import sys
import time
import traceback
import types
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import CodeType, FrameType
from typing import Any, Callable, Iterator, TextIO

from psflow import codec, keys
from psflow.script import provided as script_names
from psflow.durations import describe_duration, describe_time
from psflow.errors import BlockArgumentError, BlockError
from psflow.script import block as Block
from psflow.script import recorder
from psflow.script.block import describe_failed_try
from psflow.script.recorder import MISSING, RecordError, Stop, lookup
from psflow.script.waiting import WaitTimeout
from psflow.capture import OutputCapture
from psflow.importer import ScriptFolderImporter
from psflow.store import BlockRecord, JobStore, StoreError

PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep
_MUTABLE = (list, dict, set, bytearray)

EXIT_COMPLETED, EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3
_WAIT_SLICE = 0.1  # seconds: how soon a retry's backoff notices a worker shutdown
_KEPT_FAILURES = 20  # tracebacks of retried tries kept in a block's record (the latest), besides the final one


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt ended."""

    status: str
    reason: str | None
    exit_code: int
    ran: int
    replayed: int
    due: float | None = None  # stopped by a durable timer: not to be run again before this time


class Attempt:
    """Recorder for one attempt of one job (see psflow.script.recorder.Recorder)."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        number: int,
        completed: dict[str, BlockRecord],
        *,
        host: str,
        pid: int,
        capture: OutputCapture,
        handback_status: str = "Waiting",
        replay_output: bool = False,
        rerun_changed: bool = False,
    ) -> None:
        self.store, self.job_id, self.number = store, job_id, number
        self.replay_output = replay_output  # print a replayed block's stored output again
        self.rerun_changed = rerun_changed  # run a completed block again if its code changed since
        self.completed = completed
        self.host, self.pid = host, pid
        self.capture = capture
        self.handback_status = handback_status
        self.ran = self.replayed_count = 0
        self._seen: dict[str, tuple[str, int]] = {}
        self._calls: dict[str, int] = {}
        self._open: list[str] = []  # names of the blocks open now, innermost last (scopes timer keys)
        self._timers: dict[str, int] = {}  # timers reached so far in this attempt, per scope
        self._inputs: dict[str, str] | None = None  # the job's received inputs, loaded on first wait_for
        self._written: set[str] = set()  # blocks, wait_for and timer records with a row in this attempt

    # ---- Recorder ---------------------------------------------------------

    def enter(self, handle: Block, frame: FrameType) -> None:
        if recorder.shutdown_requested():
            raise Stop(self.handback_status, "handed back: the worker running it is shutting down")
        name = handle.name
        here = (frame.f_code.co_filename, handle.line)
        first = self._seen.get(name)
        if first is not None:
            raise BlockError(
                f"block name {name!r} reached twice in one attempt: first at {first[0]}:{first[1]}, "
                f"again at {here[0]}:{here[1]}; give each block its own name, e.g. f\"{name}-{{item}}\""
            )
        self._seen[name] = here
        self._open.append(name)
        record = self.completed.get(name)
        if record is not None and self._run_again(handle, record):
            record = None  # --rerun-changed: run it again, as if it had never completed
        if record is None:
            handle.record = (self.capture.open(), time.time())
            return
        handle.replaying = True
        handle.record = record
        handle.saved = codec.decode(record.saved) if record.saved else {}
        handle.exit = record.exit_kind or "normal"
        if record.returned is not None:
            handle.returned = codec.decode(record.returned)

    def complete(self, handle: Block, frame: FrameType) -> None:
        self._leave(handle)
        buffer, started = handle.record
        output = self.capture.close(buffer)
        values = {}
        for key in handle.binds:
            value = lookup(frame, key)
            if value is not MISSING:
                values[key] = value
        saved = self._encode(handle, values, "will be unbound on replay") if values else None
        mutated = self._encode_mutations(handle, frame) if handle.mutates else None
        returned = None
        if handle.exit == "return":
            returned = self._encode_one(handle, "the return value", handle.returned, "will be None on replay")
        record = BlockRecord(
            handle.name, "Completed", saved, mutated, handle.exit, returned, output or None, _failures(handle),
            started, time.time(), self.number, self.host, self.pid, max(handle.tries, 1), handle.fingerprint,
        )
        self._save(record)
        self.completed[handle.name] = record  # an enclosing block's next try replays it
        self.ran += 1

    def replayed(self, handle: Block, frame: FrameType) -> None:
        self._leave(handle)
        record: BlockRecord = handle.record
        if self.replay_output and record.output:
            self._reprint(record.output)
        if record.mutated:
            for key, value in codec.decode(record.mutated).items():
                _restore_in_place(lookup(frame, key), value)
        self.replayed_count += 1

    def begin_try(self, handle: Block) -> None:
        """A try of a retried body starts. The first notes what the attempt has reached so far; a
        retry goes back to that, so the blocks, timers and calls inside are reached afresh (those
        that completed in a failed try are replayed, not run again)."""
        if handle.tries == 1:
            handle.try_state = (set(self._seen), dict(self._timers), dict(self._calls), len(self._open))
            return
        seen, timers, calls, depth = handle.try_state
        for name in self._seen.keys() - seen:
            del self._seen[name]
        self._timers, self._calls = dict(timers), dict(calls)
        del self._open[depth:]

    def failed_try(self, handle: Block, error: BaseException, delay: float) -> None:
        """A try failed and will be retried: record it (the block's row says Retrying until it ends),
        tell the user, and wait `delay` seconds — handing the job back if a worker shutdown comes first."""
        buffer, started = handle.record
        note = f"psflow: block {handle.name!r}: {describe_failed_try(handle, error, delay)}\n"
        self.capture.real_stderr.write(note)
        buffer.append(note)
        handle.failures = (*handle.failures[1 - _KEPT_FAILURES:], _try_failed(handle, user_traceback(error)))
        self._save(
            BlockRecord(
                handle.name, "Retrying", None, None, None, None, "".join(buffer), _failures(handle),
                started, time.time(), self.number, self.host, self.pid, handle.tries, handle.fingerprint,
            ),
        )
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if recorder.shutdown_requested():
                raise Stop(self.handback_status, "handed back: the worker running it is shutting down")
            time.sleep(min(left, _WAIT_SLICE))

    def interrupted(self, handle: Block) -> None:
        self._record_unfinished(handle, "Stopped", None)

    def failed(self, handle: Block, error: BaseException) -> None:
        self._record_unfinished(handle, "Failed", user_traceback(error))

    def call_key(self, name: str) -> str:
        count = self._calls.get(name, 0) + 1
        self._calls[name] = count
        return keys.nth(name, count)

    def wait_for(self, name: str, timeout: float | None) -> Any:
        """The job's input `name`, recorded once as block `wait_for:NAME` and replayed after;
        missing: stop Waiting, or raise WaitTimeout once `timeout` has passed since it first waited."""
        key = keys.wait_key(name)
        record = self.completed.get(key)
        if record is not None:
            self.replayed_count += 1
            return codec.decode(record.returned)
        if self._inputs is None or name not in self._inputs:  # one query, again only on a miss
            self._inputs = self._load(self.store.latest_inputs)
        text = self._inputs.get(name)
        now = time.time()
        if text is not None:
            self._record_marker(key, "Completed", now, returned=text)
            return codec.decode(text)
        if timeout is not None:
            first = self._load(lambda job_id: self.store.first_block_start(job_id, key))
            waited = now - (first if first is not None else now)
            if waited >= timeout:
                error = WaitTimeout(f"waited more than {describe_duration(timeout)} for {name}")
                self._record_marker(key, "Failed", now, error=f"WaitTimeout: {error}")
                raise error
        self._record_marker(key, "Waiting", now)
        raise Stop("Waiting", f"waiting for {name}")

    def timer(self, due: Callable[[float], float]) -> None:
        """A durable timer: its due time is computed once (block `sleep`, `sleep#2`, … in call order,
        prefixed by the enclosing block's name) and replayed; stop Waiting until it is due."""
        scope = keys.timer_scope(self._open[-1] if self._open else None)
        count = self._timers.get(scope, 0) + 1
        self._timers[scope] = count
        key = keys.nth(scope, count)
        record = self.completed.get(key)
        if record is not None:
            self.replayed_count += 1
            when = float(codec.decode(record.returned))
        else:
            now = time.time()
            when = float(due(now))
            self._record_marker(key, "Completed", now, returned=codec.encode(when))
        if when > time.time():
            raise Stop("Waiting", f"sleeping until {describe_time(when)}", due=when)

    # ---- helpers ----------------------------------------------------------

    def _run_again(self, handle: Block, record: BlockRecord) -> bool:
        """Did the block's code change since its record was written? With --rerun-changed it runs
        again (True); otherwise it is replayed, and the user is told."""
        if record.fingerprint is None or handle.fingerprint is None or record.fingerprint == handle.fingerprint:
            return False
        if self.rerun_changed:
            return True
        print(
            f"psflow: warning: block {handle.name!r} changed since it completed in attempt {record.attempt}; "
            "replaying (use --rerun-changed to run it again)",
            file=self.capture.real_stderr,
        )
        return False

    def _reprint(self, output: str) -> None:
        """A replayed block's stored output, on the real stdout (not into an enclosing block's log)."""
        stdout = self.capture.real_stdout
        stdout.write(output)
        stdout.flush()

    def _leave(self, handle: Block) -> None:
        if self._open and self._open[-1] == handle.name:
            self._open.pop()

    def _record_marker(
        self, key: str, status: str, now: float, *, returned: str | None = None, error: str | None = None
    ) -> None:
        """A wait_for or timer record; a Completed one is replayed by later attempts (and by this one)."""
        if key in self._written:
            return  # a script that caught Stop and waited again: one record per attempt
        record = BlockRecord(
            key, status, None, None, "return" if status == "Completed" else None, returned, None, error,
            now, now, self.number, self.host, self.pid,
        )
        self._save(record)
        if status == "Completed":
            self.completed[key] = record
            self.ran += 1

    def _load(self, query: Callable[[str], Any]) -> Any:
        try:
            return query(self.job_id)
        except StoreError as error:
            raise RecordError(f"cannot read the job's inputs: {error}") from None

    def _record_unfinished(self, handle: Block, status: str, error: str | None) -> None:
        """A block that did not complete: kept for `psflow job`, run again next attempt."""
        self._leave(handle)
        if handle.replaying:
            return
        buffer, started = handle.record
        output = self.capture.close(buffer)
        if handle.failures:  # the tries before the last one failed too
            error = _failures(handle) + (_try_failed(handle, error) if error else "")
        self._save(
            BlockRecord(
                handle.name, status, None, None, None, None, output or None, error,
                started, time.time(), self.number, self.host, self.pid, max(handle.tries, 1), handle.fingerprint,
            ),
        )

    def _save(self, record: BlockRecord) -> None:
        """Write the block's row: an INSERT, or (run again by an enclosing block's retry) an UPDATE."""
        try:
            if record.name in self._written:
                self.store.replace_block(self.job_id, record)
            else:
                self.store.save_block(self.job_id, record)
                self._written.add(record.name)
        except StoreError as error:
            raise RecordError(f"cannot record block {record.name!r}: {error}") from None

    def _encode(self, handle: Block, values: dict[str, Any], consequence: str) -> str | None:
        """Codec text for `values`; what cannot be saved is dropped, and the user is told."""
        try:
            return codec.encode(values)
        except codec.UnsupportedValue:
            pass
        kept = {
            key: value
            for key, value in values.items()
            if self._encode_one(handle, repr(key), value, consequence) is not None
        }
        return codec.encode(kept) if kept else None

    def _encode_one(self, handle: Block, label: str, value: Any, consequence: str) -> str | None:
        try:
            return codec.encode(value)
        except codec.UnsupportedValue as error:
            self._warn(handle, f"cannot save {label} ({error.type_name}): {label} {consequence}")
            return None

    def _encode_mutations(self, handle: Block, frame: FrameType) -> str | None:
        """Outer lists, dicts, sets and dataclasses the body changed in place, to redo on replay."""
        values = {}
        for key in handle.mutates:
            value = lookup(frame, key)
            if isinstance(value, _MUTABLE) or (
                dataclasses.is_dataclass(value) and not isinstance(value, type)
            ):
                values[key] = value
        if not values:
            return None
        return self._encode(handle, values, "changes will be lost on replay")

    def _warn(self, handle: Block, message: str) -> None:
        where = f"{self._seen[handle.name][0]}:{handle.line}"
        print(f"psflow: warning: {where}: block {handle.name!r}: {message}", file=self.capture.real_stderr)


def _failures(handle: Block) -> str | None:
    """The failed tries' tracebacks (the last few), for the `error` of a block that was retried."""
    return "".join(handle.failures) or None


def _try_failed(handle: Block, report: str) -> str:
    return f"try {handle.tries} of {handle.retries + 1} failed:\n{report}"


def _restore_in_place(target: Any, value: Any) -> None:
    """Make `target` equal to `value` without rebinding it (other names may share it)."""
    if isinstance(target, (list, bytearray)):
        target[:] = value
    elif isinstance(target, (dict, set)):
        target.clear()
        target.update(value)
    elif dataclasses.is_dataclass(target) and not isinstance(target, type):
        target.__dict__.update(value.__dict__)


def run_attempt(
    store: JobStore,
    job_id: str,
    number: int,
    code: CodeType,
    *,
    script: str,
    argv: list[str],
    host: str,
    pid: int,
    handback_status: str = "Waiting",
    replay_output: bool = False,
    rerun_changed: bool = False,
) -> AttemptResult:
    """Execute `code` as attempt `number` of the job and record how it ended.

    `handback_status` is what the job goes back to if a worker shutdown stops it.
    With `replay_output`, a replayed block prints the output it recorded again.
    With `rerun_changed`, a completed block whose code changed since runs again.
    """
    capture = OutputCapture()
    attempt = Attempt(
        store, job_id, number, store.completed_blocks(job_id),
        host=host, pid=pid, capture=capture, handback_status=handback_status, replay_output=replay_output,
        rerun_changed=rerun_changed,
    )
    with _script_environment(script, argv, job_id) as module:
        capture.install()
        recorder.activate(attempt)
        due = None
        try:
            exec(code, module.__dict__)
        except BaseException as error:  # noqa: BLE001 - every ending is turned into a status
            status, reason, exit_code = _ending(error, capture.real_stderr)
            due = error.due if isinstance(error, Stop) else None
        else:
            status, reason, exit_code = "Completed", None, EXIT_COMPLETED
        finally:
            recorder.activate(None)
            capture.uninstall()
            sys.stdout.flush()
    store.finish_attempt(job_id, number, status=status, reason=reason, due_at=due)
    return AttemptResult(status, reason, exit_code, attempt.ran, attempt.replayed_count, due)


def _ending(error: BaseException, stderr: TextIO) -> tuple[str, str | None, int]:
    """(status, reason, exit code) for a script that ended by raising `error`."""
    if isinstance(error, Stop):
        exit_code = {"Completed": EXIT_COMPLETED, "Failed": EXIT_FAILED}.get(error.status, EXIT_STOPPED)
        return error.status, error.reason, exit_code
    if isinstance(error, SystemExit):
        if error.code in (None, 0):
            return "Completed", None, EXIT_COMPLETED
        reason = error.code if isinstance(error.code, str) else f"exit status {error.code}"
        if isinstance(error.code, str):
            print(error.code, file=stderr)
        return "Failed", reason, EXIT_FAILED
    if isinstance(error, (RecordError, WaitTimeout)):
        print(f"psflow: error: {error}", file=stderr)
        return "Failed", str(error), EXIT_FAILED
    if isinstance(error, BlockError):
        print(f"psflow: error: {error}", file=stderr)
        return "Failed", str(error), EXIT_USAGE if isinstance(error, BlockArgumentError) else EXIT_FAILED
    if isinstance(error, KeyboardInterrupt):
        return "Failed", "interrupted (Ctrl-C)", EXIT_FAILED
    print(user_traceback(error), end="", file=stderr)
    return "Failed", _one_line(error), EXIT_FAILED


def _one_line(error: BaseException) -> str:
    """`Type: first line of the message` (for SyntaxError, the line that says what is wrong)."""
    lines = traceback.format_exception_only(type(error), error)
    text = lines[-1] if isinstance(error, SyntaxError) else lines[0]
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def user_traceback(error: BaseException) -> str:
    """The traceback as the user would see it from plain Python: psflow's own frames left out."""
    report = traceback.TracebackException.from_exception(error)
    seen: set[int] = set()
    pending = [report]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.stack = traceback.StackSummary.from_list(
            [frame for frame in current.stack if not _is_machinery(frame.filename)]
        )
        pending.extend(chained for chained in (current.__cause__, current.__context__) if chained)
    return "".join(report.format())


def _is_machinery(filename: str) -> bool:
    """psflow's own frames, and the import system's (Python hides those from users too)."""
    return filename.startswith(PACKAGE_DIR) or filename.startswith("<frozen importlib")


@contextmanager
def _script_environment(script: str, argv: list[str], job_id: str) -> Iterator[types.ModuleType]:
    """A fresh `__main__` with the script's argv, import path and job id.

    Afterwards argv, sys.path, `__main__`, the environment and the working
    directory are restored, so one process can run many jobs in turn.
    """
    saved = (sys.argv, list(sys.path), sys.modules.get("__main__"), dict(os.environ), os.getcwd())
    module = types.ModuleType("__main__")
    module.__file__ = script
    module.__builtins__ = builtins
    module.__dict__.update(script_names())
    sys.argv = [script, *argv]
    sys.path.insert(0, str(Path(script).resolve().parent))
    sys.modules["__main__"] = module
    os.environ["PSFLOW_JOB_ID"] = job_id
    try:
        with ScriptFolderImporter(Path(script).parent):
            yield module
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]
        if saved[2] is not None:
            sys.modules["__main__"] = saved[2]
        if os.environ != saved[3]:
            os.environ.clear()
            os.environ.update(saved[3])
        os.chdir(saved[4])
