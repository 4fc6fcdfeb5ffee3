"""What a script waits for, as recorded by its `Attempt`: inputs (`wait_for`), timers (`sleep`) and
child jobs (`start`, `wait_jobs`).

Each is a record that is not a block: written once, replayed by later attempts;
while it cannot be met, the attempt stops with the job Waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from psflow import codec, keys
from psflow.domain import WAITS_FOR_CHILDREN, JobStatus, RunStatus
from psflow.durations import describe_duration, describe_time
from psflow.errors import NotOwned, StartError, StoreError, UsageError
from psflow.script.children import ChildJobError
from psflow.script.recorder import DatabaseTrouble, LeaseLost, Stop
from psflow.script.waiting import WaitTimeout

if TYPE_CHECKING:
    from psflow.clock import Clock
    from psflow.runtime.lanes import Lanes
    from psflow.store import BlockRecord, Store
    from psflow.store.children import ChildView

# Creates the child job a start() begins: (parent id, child id, script or workflow, args, queue); raises
# PsflowError when it cannot, NotOwned when the attempt lost the parent (psflow.service.children.ChildStarter).
ChildStarter = Callable[[str, str, str, list[str], "str | None"], None]


class Waits:
    """The waits of an Attempt (a mixin: the attempt provides the records, the lanes and the store)."""

    store: Store
    job_id: str
    number: int
    clock: Clock
    completed: dict[str, BlockRecord]
    lanes: Lanes
    starter: ChildStarter | None
    _inputs: dict[str, str] | None

    if TYPE_CHECKING:

        def _record_marker(
            self, key: str, status: str, now: float, *, returned: str | None = None, error: str | None = None
        ) -> None: ...

        def _read(self, query: Callable[[str], Any]) -> Any: ...

    # ---- inputs and timers ------------------------------------------------

    def wait_for(self, name: str, timeout: float | None) -> Any:
        """The job's input `name`, recorded once as block `wait_for:NAME` and replayed after;
        missing: stop Waiting, or raise WaitTimeout once `timeout` has passed since it first waited."""
        key = keys.wait_key(name)
        record = self.completed.get(key)
        if record is not None:
            self.lanes.count_replayed(None)
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
        key = self._next_marker(keys.timer_scope)
        record = self.completed.get(key)
        if record is not None and record.returned is not None:
            self.lanes.count_replayed(None)
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
            self.lanes.count_replayed(None)
            return str(codec.decode(record.returned))
        child = job_id or keys.child_id(self.job_id, key)
        if self.starter is None:
            raise UsageError("start() needs a job that psflow runs with its store (psflow exec, resume or worker)")
        try:
            self.starter(self.job_id, child, target, args, queue)
        except NotOwned:
            raise LeaseLost.of(self.job_id, self.number) from None
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
            self.lanes.count_replayed(None)
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

    def _next_marker(self, scope_of: Callable[[str | None], str]) -> str:
        """The key of the next timer, start() or wait_jobs() in this scope (`sleep`, `sleep#2`, …)."""
        scope = scope_of(self.lanes.scope())
        timers = self.lanes.current().timers
        count = timers.get(scope, 0) + 1
        timers[scope] = count
        return keys.nth(scope, count)


def _row(job_id: str, child: ChildView | None) -> list[Any]:
    """How a child ended, as kept in a wait_jobs record: id, status, reason, error, result (codec text)."""
    if child is None:
        return [job_id, "removed", "the job was removed (psflow rm)", None, None]
    return [job_id, child.status, child.reason, child.error, child.result]


def _outcome(job_id: Any, status: Any, reason: Any, error: Any, result: Any) -> Any:
    """A child's result, or the ChildJobError that stands for its failure."""
    if status != JobStatus.COMPLETED:
        return ChildJobError(job_id, status, reason, error)
    try:
        return codec.decode(result) if result is not None else None
    except ValueError as unreadable:  # not as psflow writes it: the child's row was edited by hand
        raise ValueError(f"cannot read the result of child job {job_id} ({unreadable}); was its row edited?") from None
