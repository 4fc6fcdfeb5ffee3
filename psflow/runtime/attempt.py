"""`Attempt`: the recorder blocks report to while one attempt of a job runs.

It decides what replays, saves each completed block in one committed
transaction, records failed, stopped and retried runs, gives `wait_for` its
input and timers their due time, and keeps each block's output.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

from psflow import codec, keys
from psflow.clock import Clock
from psflow.domain import WAITS_FOR_CHILDREN, ExitKind, JobStatus, Runner, RunOptions, RunStatus
from psflow.durations import describe_duration, describe_time
from psflow.errors import BlockError, NotOwned, StartError, StoreError, UsageError
from psflow.runtime import process_state
from psflow.runtime.call_keys import call_leaf
from psflow.runtime.capture import OutputCapture
from psflow.runtime.endings import user_traceback
from psflow.runtime.values import (
    bound_values,
    encode_mutations,
    encode_value,
    encode_values,
    redo_mutations,
    saved_values,
)
from psflow.script import recorder
from psflow.script.block import describe_failed_try
from psflow.script.children import ChildJobError
from psflow.script.recorder import DatabaseTrouble, LeaseLost, Stop, Terminated
from psflow.script.waiting import WaitTimeout
from psflow.store import BlockRecord

if TYPE_CHECKING:
    from psflow.script import block
    from psflow.store import Store
    from psflow.store.children import ChildView

# Creates the child job a start() begins: (parent id, child id, script or workflow, args, queue); raises
# PsflowError when it cannot, NotOwned when the attempt lost the parent (psflow.service.children.ChildStarter).
ChildStarter = Callable[[str, str, str, list[str], "str | None"], None]

_WAIT_SLICE = 0.1  # seconds: how soon a retry's backoff notices a worker shutdown
_KEPT_FAILURES = 20  # tracebacks of retried tries kept in a block's record (the latest), besides the final one
_HANDED_BACK = "handed back: the worker running it is shutting down"


class Attempt:
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
        self.ran = self.replayed_count = 0
        self.block_failure: BaseException | None = None  # the last exception a block was recorded as failed with
        self._seen: dict[str, tuple[str, int | None]] = {}
        self._order_keyed: dict[str, bool] = {}  # per @block name: does this job key its calls in call order?
        self._warned_calls: set[str] = set()  # @block names told about an argument that cannot be encoded
        self._main = _Lane(None, True)  # what the script's own thread has reached
        self._local = threading.local()  # .lane: the lane of a thread running a call of a map
        self._lanes = 0  # lanes of map calls open now: none, and every thread is the script's (the hot path)
        self._lock = threading.Lock()  # what the lanes share: counts, journals
        self._owner = threading.get_ident()  # the thread that runs the script and holds the connection
        self._requests: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()  # lanes' reads and writes
        self._abandoned = False  # the script's thread no longer serves the lanes
        self._inputs: dict[str, str] | None = None  # the job's received inputs, loaded on first wait_for
        self._written: set[str] = set()  # blocks, wait_for and timer records with a row in this attempt

    def live(self) -> tuple[int, str]:
        """What `psflow logs --follow` shows of this attempt now: the running outermost block's output so far."""
        written, text = self.capture.live()
        opened = self._main.open
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
        lane = self._lane() if self._lanes else self._main  # the test first: the hot path
        lane.seen.append(name)
        main = lane is self._main
        outermost = main and not lane.open
        lane.open.append(name)
        record = self.completed.get(name)
        if record is not None and self._run_again(handle, record):
            record = None  # --rerun-changed: run it again, as if it had never completed
        if record is None:
            lead, buffer = self.capture.open_outermost() if outermost else ("", self.capture.open())
            # A map's calls share the process: what one of them changes in it is not that call's alone.
            handle.record = (buffer, self.clock.now(), lead or None, process_state.snapshot() if main else None)
            return
        handle.replaying = True
        handle.record = record
        handle.saved = saved_values(record.saved) if record.saved else {}
        handle.exit = record.exit_kind or ExitKind.NORMAL
        if record.returned is not None:
            handle.returned = codec.decode(record.returned)

    def complete(self, handle: block, frame: FrameType) -> None:
        lane = self._leave(handle)
        buffer, started, lead, process = handle.record
        output = self.capture.close(buffer)
        warn = self._warner(handle)
        changed = process_state.changes_since(process) if process is not None else {}
        values = bound_values(frame, handle.binds)
        returned = None
        if handle.exit in (ExitKind.RETURN, ExitKind.EXIT):
            returned = encode_value("the return value", handle.returned, "will be None on replay", warn)
        record = BlockRecord(
            name=handle.name,
            status=RunStatus.COMPLETED,
            saved=encode_values(values, "will be unbound on replay", warn) if values else None,
            mutated=encode_mutations(frame, handle.mutates, changed, warn) if handle.mutates or changed else None,
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
        self._count_ran(lane)

    def replayed(self, handle: block, frame: FrameType) -> None:
        lane = self._leave(handle)
        record: BlockRecord = handle.record
        if self.options.replay_output and record.output:
            self.capture.show_again(record.output)
        if record.mutated:
            redo_mutations(frame, record.mutated)
        if lane is self._main:
            self.replayed_count += 1
        else:
            with self._lock:
                self.replayed_count += 1
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

    def call_key(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], where: tuple[str, int]) -> str:
        """The key of a call of `@block` `name`: `Fetch(1)`, `B/Fetch(1)` inside block B, `#2`, … for
        identical calls in one block (psflow.keys) — or, in a job begun by an earlier psflow, `Fetch#2`."""
        order_keyed = self._order_keyed.get(name)
        if order_keyed is None:
            order_keyed = self._order_keyed[name] = keys.order_keyed(name, self.completed)
            if order_keyed:
                self._tell(
                    "note",
                    where,
                    f"@block {name!r}: this job's calls were recorded by an earlier psflow in call order "
                    f"({name!r}, {name + '#2'!r}, …): they keep that order here; new jobs key calls by their arguments",
                )
        if order_keyed:
            base = name
        else:
            leaf, unencodable = call_leaf(name, args, kwargs)
            if unencodable and name not in self._warned_calls:
                self._warned_calls.add(name)
                self._tell(
                    "warning",
                    where,
                    f"@block {name!r}: an argument of type {', '.join(dict.fromkeys(unencodable))} cannot "
                    "be encoded, so calls are told apart by its type only: calls alike but for it are matched "
                    "in call order on replay",
                )
            base = keys.scoped(self._scope(), leaf)
        calls = self._lane().calls
        count = calls.get(base, 0) + 1
        calls[base] = count
        return keys.nth(base, count)

    # ---- fan-out: the calls of a map, each in a lane of its own ------------------

    def map_keys(self, leaves: list[str]) -> list[str]:
        """The keys of a map's calls, scoped and counted in the calling thread like other calls."""
        lane, scope = self._lane(), self._scope()
        found = []
        for leaf in leaves:
            base = keys.scoped(scope, leaf)
            count = lane.calls.get(base, 0) + 1
            lane.calls[base] = count
            found.append(keys.nth(base, count))
        return found

    def lane_of_thread(self) -> object:
        """Where a map is called from: its calls' lanes report to it (see enter_lane)."""
        lane = self._lane()
        via_owner = lane.via_owner if lane is not self._main else threading.get_ident() == self._owner
        return lane, via_owner, self.capture.lane_of_thread()

    def enter_lane(self, parent: object, label: str) -> object:
        """This thread runs one call of a map from here on: its blocks, counts and output are its own."""
        above, via_owner, output = cast("tuple[_Lane, bool, Any]", parent)
        lane = _Lane(above, via_owner)
        with self._lock:
            self._lanes += 1
        self._local.lane = lane
        self.capture.enter_lane(label, output)
        return lane

    def leave_lane(self, lane: object) -> None:
        assert isinstance(lane, _Lane) and lane.parent is not None
        self.capture.leave_lane()
        self._local.lane = None
        with self._lock:
            lane.parent.seen.extend(lane.seen)  # a retry of a block around the map forgets them too
            self._lanes -= 1

    def serve(self, done: threading.Event) -> None:
        """Wait until `done`; in the script's thread, meanwhile write (and read) for the lanes, one
        request at a time, on this thread's connection. A signal interrupts it like any wait."""
        if threading.get_ident() != self._owner:
            done.wait()  # a map inside a call: the script's thread serves its lanes too
            return
        while not done.is_set():
            request = self._requests.get()
            if request is not None:
                request.run()

    def wake(self) -> None:
        self._requests.put(None)

    def tell(self, message: str) -> None:
        """A note for the user, live, not in the job's output."""
        print(f"psflow: {message}", file=self.capture.real_stderr, flush=True)

    def abandon(self) -> None:
        """The script's thread stops serving: what a lane asks from now on fails, unwritten."""
        self._abandoned = True

    # ---- retries ----------------------------------------------------------

    def begin_try(self, handle: block) -> None:
        """A try of a retried body starts. The first notes what the attempt has reached so far; a
        retry goes back to that, so the blocks, timers and calls inside are reached afresh (those
        that completed in a failed try are replayed, not run again)."""
        lane = self._lane()
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
        buffer, started, lead, _ = handle.record
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

    # ---- waiting ----------------------------------------------------------

    def wait_for(self, name: str, timeout: float | None) -> Any:
        """The job's input `name`, recorded once as block `wait_for:NAME` and replayed after;
        missing: stop Waiting, or raise WaitTimeout once `timeout` has passed since it first waited."""
        key = keys.wait_key(name)
        record = self.completed.get(key)
        if record is not None:
            self._count_replayed()
            return codec.decode(record.returned) if record.returned is not None else None
        if self._inputs is None or name not in self._inputs:  # one query, again only on a miss
            self._inputs = self._read(self.store.latest_inputs)
        text = self._inputs.get(name)
        now = self.clock.now()
        if text is not None:
            self._record_marker(key, RunStatus.COMPLETED, now, returned=text)
            return codec.decode(text)
        deadline = self._wait_deadline(key, timeout, name, now)
        self._record_marker(key, RunStatus.WAITING, now)
        raise Stop(JobStatus.WAITING, f"waiting for {name}", due=deadline, waits_for=name)

    def _wait_deadline(self, key: str, timeout: float | None, what: str, now: float) -> float | None:
        """When the wait recorded as `key` times out: `timeout` after it first waited (None: never).
        Already past: the wait is recorded Failed and WaitTimeout raised."""
        if timeout is None:
            return None
        first = self._read(lambda job_id: self.store.first_block_start(job_id, key))
        deadline = (first if first is not None else now) + timeout
        if now >= deadline:
            error = WaitTimeout(f"waited more than {describe_duration(timeout)} for {what}")
            self._record_marker(key, RunStatus.FAILED, now, error=f"WaitTimeout: {error}")
            raise error
        return deadline

    def timer(self, due: Callable[[float], float]) -> None:
        """A durable timer: its due time is computed once (block `sleep`, `sleep#2`, … in call order,
        prefixed by the enclosing block's name) and replayed; stop Waiting until it is due."""
        scope = keys.timer_scope(self._scope())
        timers = self._lane().timers
        count = timers.get(scope, 0) + 1
        timers[scope] = count
        key = keys.nth(scope, count)
        record = self.completed.get(key)
        if record is not None and record.returned is not None:
            self._count_replayed()
            when = float(codec.decode(record.returned))  # type: ignore[arg-type]
        else:
            now = self.clock.now()
            when = float(due(now))
            self._record_marker(key, RunStatus.COMPLETED, now, returned=codec.encode(when))
        if when > self.clock.now():
            raise Stop(JobStatus.WAITING, f"sleeping until {describe_time(when)}", due=when)

    # ---- child jobs -------------------------------------------------------

    def start_child(self, target: str, args: list[str], job_id: str | None, queue: str | None) -> str:
        """The id of the child job this start() begins: created once (its record `job:start`, `#2`, …
        keeps the id) and given back on every later attempt. Its default id follows from the record's
        key, so an attempt that died between creating the child and recording it finds it again."""
        key = self._next_marker(keys.start_scope)
        record = self.completed.get(key)
        if record is not None and record.returned is not None:
            self._count_replayed()
            return str(codec.decode(record.returned))
        child = job_id or keys.child_id(self.job_id, key)
        if self.starter is None:
            raise UsageError("start() needs a job that psflow runs with its store (psflow exec, resume or worker)")
        try:
            self.starter(self.job_id, child, target, args, queue)
        except NotOwned:
            raise LeaseLost(lost_message(self.job_id, self.number)) from None
        except StoreError as error:
            raise DatabaseTrouble(f"cannot start child job {child}: {error}") from None
        self._record_marker(key, RunStatus.COMPLETED, self.clock.now(), returned=codec.encode(child))
        return child

    def wait_jobs(self, job_ids: list[str], timeout: float | None, return_exceptions: bool = False) -> list[Any]:
        """The outcomes of child jobs `job_ids` (result, or ChildJobError) once all have ended, recorded as
        `job:wait` (`#2`, …) and replayed after — unless one failed and is raised (it may be retried).
        Not all ended: stop Waiting for them, or raise WaitTimeout once `timeout` has passed since it first waited."""
        key = self._next_marker(keys.wait_jobs_scope)
        record = self.completed.get(key)
        if record is not None and record.returned is not None:
            self._count_replayed()
            saved: list[list[Any]] = codec.decode(record.returned)  # type: ignore[assignment]
            return [_outcome(*row) for row in saved]
        found = self._read(lambda _: self.store.child_jobs(job_ids))
        strangers = [job_id for job_id in job_ids if job_id in found and found[job_id].parent != self.job_id]
        if strangers:  # its end would never wake this job: it would wait for ever, or spin
            raise StartError(
                f"wait_jobs(): job {strangers[0]} is not a child of job {self.job_id}: "
                "wait only for the handles this job's start() returned"
            )
        unended = [job_id for job_id in dict.fromkeys(job_ids) if job_id in found and not found[job_id].ended]
        now = self.clock.now()
        if not unended:
            rows = [_row(job_id, found.get(job_id)) for job_id in job_ids]
            failed = [row for row in rows if row[1] != JobStatus.COMPLETED]
            if failed and not return_exceptions:
                error = _outcome(*failed[0])
                self._record_marker(key, RunStatus.FAILED, now, error=f"ChildJobError: {error}")
                return [_outcome(*row) for row in rows]
            self._record_marker(key, RunStatus.COMPLETED, now, returned=codec.encode(rows))
            return [_outcome(*row) for row in rows]
        total = len(set(job_ids))
        what = f"{len(unended)} of {total} child job{'s' if total != 1 else ''}"
        deadline = self._wait_deadline(key, timeout, what, now)
        self._record_marker(key, RunStatus.WAITING, now)
        raise Stop(
            JobStatus.WAITING,
            f"waiting for {what}",
            due=deadline,
            waits_for=WAITS_FOR_CHILDREN,
            awaits=tuple(dict.fromkeys(job_ids)),
        )

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

    def _next_marker(self, scope_of: Callable[[str | None], str]) -> str:
        """The key of the next start() or wait_jobs() in this scope, counted like timers."""
        scope = scope_of(self._scope())
        timers = self._lane().timers
        count = timers.get(scope, 0) + 1
        timers[scope] = count
        return keys.nth(scope, count)

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

    def _lane(self) -> _Lane:
        """The calling thread's lane: the script's own, unless it runs a call of a map."""
        if not self._lanes:
            return self._main
        return getattr(self._local, "lane", None) or self._main

    def _scope(self) -> str | None:
        """The innermost block open in this thread's lane (None: at top level)."""
        opened = self._lane().open
        return opened[-1] if opened else None

    def _leave(self, handle: block) -> _Lane:
        lane = self._lane() if self._lanes else self._main
        if lane.open and lane.open[-1] == handle.name:
            lane.open.pop()
        return lane

    def _count_ran(self, lane: _Lane) -> None:
        if lane is self._main:
            self.ran += 1
        else:
            with self._lock:
                self.ran += 1

    def _count_replayed(self) -> None:
        with self._lock:
            self.replayed_count += 1

    def _through_owner(self, call: Callable[[], Any]) -> Any:
        """`call()`, run by the script's thread when this thread runs a call of a map that thread waits
        for: the attempt's reads and writes go one at a time through its one connection."""
        lane = self._lane()
        if lane is self._main or not lane.via_owner:
            return call()
        request = _Request(call)
        self._requests.put(request)
        while not request.done.wait(1.0):
            if self._abandoned:
                raise DatabaseTrouble("the attempt ended before this call's record was written")
        if request.error is not None:
            raise request.error
        return request.result

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
            self.ran += 1

    def _read(self, query: Callable[[str], Any]) -> Any:
        try:
            return self._through_owner(lambda: query(self.job_id))
        except StoreError as error:
            raise DatabaseTrouble(f"cannot read the job's inputs: {error}") from None

    def _record_unfinished(self, handle: block, status: str, error: str | None) -> None:
        """A block that did not complete: kept for `psflow job`, run again next attempt."""
        self._leave(handle)
        if handle.replaying:
            return
        buffer, started, lead, _ = handle.record
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
        """Write the block's row: an INSERT, or (run again by an enclosing block's retry) an UPDATE."""
        try:
            if record.name in self._written:
                saved = self._through_owner(lambda: self.store.replace_block(self.job_id, record))
            elif not self._lanes:  # no map running: the hot path, as direct as it can be
                saved = self.store.save_block(self.job_id, record)
                self._written.add(record.name)
            else:
                saved = self._through_owner(lambda: self.store.save_block(self.job_id, record))
                self._written.add(record.name)
        except StoreError as error:
            raise DatabaseTrouble(f"cannot record block {record.name!r}: {error}") from None
        if not saved:
            raise LeaseLost(lost_message(self.job_id, self.number))

    def _tell(self, kind: str, where: tuple[str, int], message: str) -> None:
        print(f"psflow: {kind}: {where[0]}:{where[1]}: {message}", file=self.capture.real_stderr)

    def _warner(self, handle: block) -> Callable[[str], None]:
        def warn(message: str) -> None:
            where = f"{self._seen[handle.name][0]}:{handle.line}"
            print(f"psflow: warning: {where}: block {handle.name!r}: {message}", file=self.capture.real_stderr)

        return warn


def _row(job_id: str, child: ChildView | None) -> list[Any]:
    """How a child ended, as kept in a wait_jobs record: id, status, reason, error, result (codec text)."""
    if child is None:
        return [job_id, "removed", "the job was removed (psflow rm)", None, None]
    return [job_id, child.status, child.reason, child.error, child.result]


def _outcome(job_id: Any, status: Any, reason: Any, error: Any, result: Any) -> Any:
    """A child's result, or the ChildJobError that stands for its failure."""
    if status != JobStatus.COMPLETED:
        return ChildJobError(job_id, status, reason, error)
    return codec.decode(result) if result is not None else None


class _Lane:
    """What one thread of the attempt has reached: the blocks open in it (innermost last), its calls
    and timers per scope, and the names it reached in order (a retry forgets those after its start).
    The script's own thread has one; each call of a map has its own (psflow.script.fanout)."""

    __slots__ = ("calls", "open", "parent", "seen", "timers", "via_owner")

    def __init__(self, parent: _Lane | None, via_owner: bool) -> None:
        self.parent, self.via_owner = parent, via_owner  # via_owner: the script's thread writes its records
        self.open: list[str] = []
        self.calls: dict[str, int] = {}  # @block calls reached so far, per key without `#N`
        self.timers: dict[str, int] = {}
        self.seen: list[str] = []


class _Request:
    """A lane's read or write, run by the script's thread; the lane waits for `done`."""

    __slots__ = ("call", "done", "error", "result")

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call, self.done = call, threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except BaseException as error:
            self.error = error  # the lane's own (its record not written) …
            if isinstance(error, (KeyboardInterrupt, Terminated)):
                raise  # … and the script's thread's: a signal came while it wrote
        finally:
            self.done.set()


def _failures(handle: block) -> str | None:
    """The failed tries' tracebacks (the last few), for the `error` of a block that was retried."""
    return "".join(handle.failures) or None


def _try_failed(handle: block, report: str) -> str:
    return f"try {handle.tries} of {handle.retries + 1} failed:\n{report}"


def lost_message(job_id: str, number: int) -> str:
    return (
        f"job {job_id} is no longer this runner's (attempt {number} lost its lease and another runner, "
        "or a command, took the job): stopped, nothing more recorded"
    )
