"""`Attempt`: the recorder blocks report to while one attempt of a job runs.

It decides what replays, saves each completed block in one committed
transaction, records failed, stopped and retried runs, and keeps each block's
output. What a script waits for is in psflow.runtime.waits; the keys of `@block`
calls, in psflow.runtime.call_keys; the threads of a map's calls, in psflow.runtime.lanes.
"""

from __future__ import annotations

import json
import threading
from collections import ChainMap
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from psflow import codec
from psflow.clock import Clock
from psflow.domain import ExitKind, JobStatus, Runner, RunOptions, RunStatus
from psflow.errors import BlockError, StoreError
from psflow.runtime import process_state
from psflow.runtime.call_keys import CallKeys
from psflow.runtime.capture import OutputCapture
from psflow.runtime.endings import user_traceback
from psflow.runtime.lanes import Lane, Lanes
from psflow.runtime.values import encode_mutations, encode_value, encode_values, redo_mutations, saved_values, watch
from psflow.runtime.waits import ChildStarter, Waits
from psflow.script import recorder
from psflow.script.block import describe_failed_try
from psflow.script.recorder import DatabaseTrouble, LeaseLost, Stop, Terminated
from psflow.script.scope import scope_values
from psflow.store import BlockRecord

if TYPE_CHECKING:
    from psflow.script import block
    from psflow.store import Store

_WAIT_SLICE = 0.1  # seconds: how soon a retry's backoff notices a worker shutdown
_KEPT_FAILURES = 20  # tracebacks of retried tries kept in a block's record (the latest), besides the final one
_HANDED_BACK = "handed back: the worker running it is shutting down"


class Attempt(Waits, CallKeys):
    """Recorder for one attempt of one job (see psflow.script.recorder.Recorder)."""

    def __init__(
        self,
        store: Store,
        job_id: str,
        number: int,
        *,
        runner: Runner,
        capture: OutputCapture,
        clock: Clock,
        options: RunOptions = RunOptions(),
        handback_status: str = JobStatus.WAITING,
        starter: ChildStarter | None = None,
    ) -> None:
        self.store, self.job_id, self.number = store, job_id, number
        self.starter = starter  # creates the job a start() begins (psflow.service.children)
        self._result: tuple[Any] | None = None  # (job.result,) once set or read in this attempt
        self.result_text: str | None = None  # codec text of job.result set in this attempt: stored at its end
        self.runner, self.capture, self.clock, self.options = runner, capture, clock, options
        self.handback_status = handback_status  # where a worker shutdown leaves the job
        # Attempt numbers only grow, and blocks are written by the attempt holding the job: attempt 1 replays nothing.
        self.completed = store.completed_blocks(job_id) if number > 1 else {}
        self.block_failure: BaseException | None = None  # the last exception a block was recorded as failed with
        self._seen: dict[str, tuple[str, int | None]] = {}
        self._order_keyed: dict[str, bool] = {}  # per @block name: does this job key its calls in call order?
        self._warned_calls: set[str] = set()  # @block names told about an argument that cannot be encoded
        self._unread: set[tuple[str, type]] = set()  # outer names told of as changed but unreadable
        self.lanes = Lanes(capture)  # what each thread running the script has reached
        self._inputs: dict[str, str] | None = None  # the job's received inputs, loaded on first wait_for
        self._written: dict[str, int] = {}  # blocks, wait_for and timer records with a row in this attempt: its id

    def live(self) -> tuple[int, str]:
        """What `psflow logs --follow` shows of this attempt now: the running outermost block's output so far."""
        written, text = self.capture.live()
        opened = self.lanes.main.open
        block = opened[0] if opened else None
        return written, json.dumps({"attempt": self.number, "block": block, "text": text})

    # ---- blocks -----------------------------------------------------------

    def enter(self, handle: block, frame: FrameType) -> None:
        if recorder.shutdown_requested():
            raise Stop(self.handback_status, _HANDED_BACK)
        name = handle.name
        here = (handle.file or frame.f_code.co_filename, handle.line)
        first = self._seen.setdefault(name, here)  # one step: two lanes reaching one name cannot both pass
        if first is not here:
            raise BlockError(
                f"block name {name!r} reached twice in one attempt: first at {first[0]}:{first[1]}, "
                f'again at {here[0]}:{here[1]}; give each block its own name, e.g. f"{name}-{{item}}"'
            )
        lanes = self.lanes
        lane = lanes.current() if lanes.active else lanes.main  # the test first: the hot path
        lane.seen.append(name)
        main = lane is lanes.main
        outermost = main and not lane.open
        lane.open.append(name)
        record = self.completed.get(name)
        if record is not None and self._run_again(handle, record):
            record = None  # --rerun-changed: run it again, as if it had never completed
        if record is None:
            lead, buffer = self.capture.open_outermost() if outermost else ("", self.capture.open())
            # A map's calls share the process: what one of them changes in it is not that call's alone.
            process = process_state.snapshot() if main else None
            changes = handle.mutates or handle.given
            watched = (
                watch(frame, handle.mutates, handle.given, self._warner(handle), self._unread) if changes else None
            )
            handle.record = (buffer, self.clock.now(), lead or None, process, watched)
            return
        handle.replaying = True
        handle.record = record
        handle.saved = saved_values(record.saved) if record.saved else {}
        handle.exit = record.exit_kind or ExitKind.NORMAL
        if record.returned is not None:
            handle.returned = codec.decode(record.returned)

    def complete(self, handle: block, frame: FrameType) -> None:
        lane = self._leave(handle)
        buffer, started, lead, process, watched = handle.record
        output = self.capture.close(buffer)
        warn = self._warner(handle)
        changed = process_state.changes_since(process) if process is not None else {}
        values = scope_values(frame, handle.binds)
        returned = None
        if handle.exit in (ExitKind.RETURN, ExitKind.EXIT):
            returned = encode_value("the return value", handle.returned, "will be None on replay", warn)
        record = BlockRecord(
            name=handle.name,
            status=RunStatus.COMPLETED,
            saved=encode_values(values, "will be unbound on replay", warn) if values else None,
            mutated=encode_mutations(frame, watched, changed, values, warn) if watched or changed else None,
            exit_kind=handle.exit,
            returned=returned,
            output=output or None,
            error=_failures(handle),
            started_at=started,
            ended_at=self.clock.now(),
            attempt=self.number,
            host=self.runner.host,
            pid=self.runner.pid,
            tries=max(handle.tries, 1),
            fingerprint=handle.fingerprint,
            lead=lead,
        )
        self._save(record)
        self.completed[handle.name] = record  # an enclosing block's next try replays it
        self.lanes.count_ran(lane)

    def replayed(self, handle: block, frame: FrameType) -> None:
        lane = self._leave(handle)
        record: BlockRecord = handle.record
        if self.options.replay_output and record.output:
            self.capture.show_again(record.output)
        if record.mutated:
            referred = redo_mutations(frame, record.mutated, self._warner(handle))
            if referred:  # the same objects, not the copies saved: read before the saved values
                handle.saved = ChainMap(referred, handle.saved)
        self.lanes.count_replayed(lane)
        if record.exit_kind == ExitKind.EXIT:  # the block ended the script with sys.exit(): so does its replay
            raise SystemExit(handle.returned)

    def interrupted(self, handle: block) -> None:
        self._record_unfinished(handle, RunStatus.STOPPED, None)

    def failed(self, handle: block, error: BaseException) -> None:
        if isinstance(error, LeaseLost):
            self._leave(handle)
            return  # another runner owns the job now: nothing more is written
        interrupted = isinstance(error, (KeyboardInterrupt, Terminated))
        self._record_unfinished(
            handle, RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED, user_traceback(error)
        )
        self.block_failure = error

    # ---- fan-out: the calls of a map, each in a lane of its own ------------------

    def lane_of_thread(self) -> object:
        return self.lanes.of_thread()

    def enter_lane(self, parent: object, label: str) -> object:
        return self.lanes.enter(parent, label)

    def leave_lane(self, lane: object) -> None:
        self.lanes.leave(lane)

    def serve(self, done: threading.Event) -> None:
        self.lanes.serve(done)

    def wake(self) -> None:
        self.lanes.wake()

    def tell(self, message: str) -> None:
        """A note for the user, live, not in the job's output."""
        print(f"psflow: {message}", file=self.capture.real_stderr, flush=True)

    def abandon(self) -> None:
        self.lanes.abandon()

    # ---- retries ----------------------------------------------------------

    def begin_try(self, handle: block) -> None:
        """A try of a retried body starts. The first notes what the attempt has reached so far; a
        retry goes back to that, so the blocks, timers and calls inside are reached afresh (those
        that completed in a failed try are replayed, not run again)."""
        lane = self.lanes.current()
        if handle.tries == 1:
            handle.try_state = (len(lane.seen), dict(lane.timers), dict(lane.calls), len(lane.open))
            return
        reached, timers, calls, depth = handle.try_state
        for name in lane.seen[reached:]:
            self._seen.pop(name, None)
        del lane.seen[reached:]
        lane.timers, lane.calls = dict(timers), dict(calls)
        del lane.open[depth:]

    def failed_try(self, handle: block, error: BaseException, delay: float) -> None:
        """A try failed and will be retried: record it (the block's row says Retrying until it ends),
        tell the user, and wait `delay` seconds — handing the job back if a worker shutdown comes first."""
        buffer, started, lead, *_ = handle.record
        note = f"psflow: block {handle.name!r}: {describe_failed_try(handle, error, delay)}\n"
        self.capture.real_stderr.write(note)
        self.capture.drain()
        buffer.append(note)
        handle.failures = (*handle.failures[1 - _KEPT_FAILURES :], _try_failed(handle, user_traceback(error)))
        self._save(self._unfinished_record(handle, RunStatus.RETRYING, buffer.text(), _failures(handle), started, lead))
        deadline = self.clock.monotonic() + delay
        while (left := deadline - self.clock.monotonic()) > 0:
            if recorder.shutdown_requested():
                raise Stop(self.handback_status, _HANDED_BACK)
            self.clock.sleep(min(left, _WAIT_SLICE))

    def result(self) -> Any:
        """`job.result`: as set in this attempt, else as stored by an earlier one (None if never set)."""
        if self._result is None:
            text = self._read(self.store.job_result)
            self._result = (codec.decode(text) if text is not None else None,)
        return self._result[0]

    def set_result(self, value: Any) -> None:
        """`job.result = value`: encoded now (a value that cannot be saved fails here), stored with the
        job by the attempt's end, in the same fenced transaction (psflow.runtime.run)."""
        try:
            self.result_text = codec.encode(value)
        except (TypeError, ValueError) as error:
            raise BlockError(f"job.result cannot be saved: {error}") from None
        self._result = (value,)

    # ---- helpers ----------------------------------------------------------

    def _run_again(self, handle: block, record: BlockRecord) -> bool:
        """Did the block's code change since its record was written? With --rerun-changed it runs
        again (True); otherwise it is replayed, and the user is told."""
        if record.fingerprint is None or handle.fingerprint is None or record.fingerprint == handle.fingerprint:
            return False
        if self.options.rerun_changed:
            return True
        print(
            f"psflow: warning: block {handle.name!r} changed since it completed in attempt {record.attempt}; "
            "replaying (use --rerun-changed to run it again)",
            file=self.capture.real_stderr,
        )
        return False

    def _leave(self, handle: block) -> Lane:
        lanes = self.lanes
        lane = lanes.current() if lanes.active else lanes.main
        if lane.open and lane.open[-1] == handle.name:
            lane.open.pop()
        return lane

    def _record_marker(
        self, key: str, status: str, now: float, *, returned: str | None = None, error: str | None = None
    ) -> None:
        """A wait_for or timer record; a Completed one is replayed by later attempts (and by this one)."""
        if key in self._written:
            return  # a script that caught Stop and waited again: one record per attempt
        completed = status == RunStatus.COMPLETED
        record = BlockRecord(
            name=key,
            status=status,
            saved=None,
            mutated=None,
            exit_kind=ExitKind.RETURN if completed else None,
            returned=returned,
            output=None,
            error=error,
            started_at=now,
            ended_at=now,
            attempt=self.number,
            host=self.runner.host,
            pid=self.runner.pid,
        )
        self._save(record)
        if completed:
            self.completed[key] = record
            self.lanes.count_ran(None)

    def _read(self, query: Callable[[str], Any]) -> Any:
        try:
            return self.lanes.through_owner(lambda: query(self.job_id))
        except StoreError as error:
            raise DatabaseTrouble(f"cannot read the job's inputs: {error}") from None

    def _record_unfinished(self, handle: block, status: str, error: str | None) -> None:
        """A block that did not complete: kept for `psflow job`, run again next attempt."""
        self._leave(handle)
        if handle.replaying:
            return
        buffer, started, lead, *_ = handle.record
        output = self.capture.close(buffer)
        if handle.failures:  # the tries before the last one failed too
            error = (_failures(handle) or "") + (_try_failed(handle, error) if error else "")
        self._save(self._unfinished_record(handle, status, output or None, error, started, lead))

    def _unfinished_record(
        self, handle: block, status: str, output: str | None, error: str | None, started: float, lead: str | None
    ) -> BlockRecord:
        return BlockRecord(
            name=handle.name,
            status=status,
            saved=None,
            mutated=None,
            exit_kind=None,
            returned=None,
            output=output,
            error=error,
            started_at=started,
            ended_at=self.clock.now(),
            attempt=self.number,
            host=self.runner.host,
            pid=self.runner.pid,
            tries=max(handle.tries, 1),
            fingerprint=handle.fingerprint,
            lead=lead,
        )

    def _save(self, record: BlockRecord) -> None:
        """Write the block's row: an INSERT, or (run again by an enclosing block's retry) an UPDATE of
        the row this attempt wrote."""
        name = record.name
        try:
            if name in self._written:
                run = self._written[name]
                saved = self.lanes.through_owner(lambda: self.store.replace_block(self.job_id, run, record))
            else:
                written = (
                    self.store.save_block(self.job_id, record)
                    if not self.lanes.active  # no map running: the hot path, as direct as it can be
                    else self.lanes.through_owner(lambda: self.store.save_block(self.job_id, record))
                )
                if written is not None:
                    self._written[name] = written
                saved = written is not None
        except StoreError as error:
            raise DatabaseTrouble(f"cannot record block {name!r}: {error}") from None
        if not saved:
            raise LeaseLost.of(self.job_id, self.number)

    def _tell(self, kind: str, where: tuple[str, int], message: str) -> None:
        print(f"psflow: {kind}: {where[0]}:{where[1]}: {message}", file=self.capture.real_stderr)

    def _warner(self, handle: block) -> Callable[[str], None]:
        def warn(message: str) -> None:
            where = f"{self._seen[handle.name][0]}:{handle.line}"
            print(f"psflow: warning: {where}: block {handle.name!r}: {message}", file=self.capture.real_stderr)

        return warn


def _failures(handle: block) -> str | None:
    """The failed tries' tracebacks (the last few), for the `error` of a block that was retried."""
    return "".join(handle.failures) or None


def _try_failed(handle: block, report: str) -> str:
    return f"try {handle.tries} of {handle.retries + 1} failed:\n{report}"
