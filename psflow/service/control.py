"""Changing what happens next to a job: rerun blocks, cancel, retry, remove, prune.

Each change is one transaction, conditional on the job being as it was read: a
job that moved on meanwhile is left alone and the user is told to try again.
Bad input raises UsageError before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from psflow.domain import FINAL_STATUSES, LOST, JobStatus, RunStatus, storable, user_name
from psflow.durations import parse_age
from psflow.errors import EditedRow, UsageError
from psflow.service.due import lease_holds_here, runner_gone, running_note
from psflow.service.history import block_names, unknown_block
from psflow.store import BlockRun, JobView, Store

# ---- psflow rerun --------------------------------------------------------------


@dataclass(frozen=True)
class RerunResult:
    """What `rerun` marked, and where that left the job."""

    job_id: str
    marked: list[str]  # block names whose Completed run is now Rerun, in the order they ran
    enclosing: list[str]  # of those, blocks marked because they contain a chosen one
    status_before: str
    status: str


def rerun(store: Store, job_id: str, *, from_block: str | None = None, only: Iterable[str] = ()) -> RerunResult:
    """Make the next attempt run blocks again: `from_block` and every block completed after it, or
    just the blocks `only`. Their Completed runs become Rerun (kept in history, not replayed).

    Blocks that enclose a chosen one are marked too (a replayed block's body does not run, so
    nothing inside it would). A Completed or Failed job goes to Waiting so `resume` takes it.
    """
    only = list(only)
    if (from_block is None) == (not only):
        raise UsageError(
            "give either --from BLOCK (it and every block completed after it) or --only BLOCK, not both"
            if only
            else "say which blocks to run again: --from BLOCK or --only BLOCK"
        )
    job = store.find_job(job_id)
    if job.status == JobStatus.CANCELLED:
        raise UsageError(f"job {job.id} was cancelled: it never runs again; start a new job instead")
    now = store.clock.now()
    if lease_holds_here(job, now):
        raise UsageError(f"{_running(job, now)}: psflow cannot change its blocks while it runs; wait for it to end")
    runs = store.block_runs(job.id)
    names = block_names(runs)
    known = set(names)
    for name in [from_block] if from_block is not None else only:
        if name not in known:
            raise UsageError(unknown_block(job, name, names))
    chosen = _later_blocks(runs, from_block) if from_block is not None else set(only)
    # With --from, only what encloses BLOCK can be missing: whatever encloses a later block either
    # started after BLOCK (it is a later block itself) or encloses BLOCK too.
    enclosing = _enclosing(runs, {from_block} if from_block is not None else chosen) - chosen
    wanted = chosen | enclosing  # built once: a set built per name made 100,000 blocks take minutes
    completed = [name for name in _completion_order(runs) if name in wanted]
    if not completed:
        what = f"block {from_block!r} and the blocks after it have" if from_block else "the chosen block(s) have"
        raise UsageError(
            f"job {job.id}: {what} no completed run to redo: "
            "a block that did not complete runs on the next attempt anyway"
        )
    changes: dict[str, Any] = {}
    status = job.status
    if job.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.RUNNING):
        # A Running job here lost its runner (lease run out, or process gone): take it back from that
        # runner, so that nothing it still writes can undo the rerun.
        status = JobStatus.WAITING
        reason = f"rerun from {from_block}" if from_block is not None else f"rerun {', '.join(only)}"
        changes = {
            "status": status,
            "reason": reason,
            "due_at": store.clock.now(),
            "waits_for": None,
            "lease_until": None,
        }
    lost = LOST if job.status == JobStatus.RUNNING else None
    marked = [run.id for run in runs if run.status == RunStatus.COMPLETED and run.name in wanted]
    if not store.mark_rerun(job, marked, changes=changes, check_lease=not runner_gone(job), end_attempts=lost):
        raise UsageError(_changed_meanwhile(job))
    around = [name for name in completed if name in enclosing]
    return RerunResult(job.id, completed, around, job.status, status)


def _completion_order(runs: list[BlockRun]) -> list[str]:
    """Names with a Completed run, ordered by when that run started (then as recorded)."""
    completed = [run for run in runs if run.status == RunStatus.COMPLETED]
    completed.sort(key=lambda run: (run.started_at, run.id))
    return list(dict.fromkeys(run.name for run in completed))


def _later_blocks(runs: list[BlockRun], name: str) -> set[str]:
    """`name` and every block whose Completed run started at or after `name`'s latest run did."""
    latest = [run for run in runs if run.name == name][-1]
    # By start, not by when recorded: a block nested in `name` is recorded before it but runs after it.
    return {run.name for run in runs if run.status == RunStatus.COMPLETED and run.started_at >= latest.started_at} | {
        name
    }


def _enclosing(runs: list[BlockRun], names: set[str]) -> set[str]:
    """Blocks whose run contains the latest run of one of `names` (same attempt, started no later,
    ended no earlier, recorded after it), and what encloses those: they must run for it to run."""
    latest = {run.name: run for run in runs}
    found: set[str] = set()
    pending = [latest[name] for name in names if name in latest]
    while pending:
        inner = pending.pop()
        for run in runs:
            if (
                run.id > inner.id
                and run.attempt == inner.attempt
                and run.started_at <= inner.started_at
                and run.ended_at >= inner.ended_at
                and run.name not in found
                and run.name not in names
            ):
                found.add(run.name)
                pending.append(run)
    return found


# ---- psflow cancel / retry / rm / prune -----------------------------------------


@dataclass(frozen=True)
class Change:
    """A job whose status a command changed."""

    job_id: str
    status_before: str
    status: str
    reason: str | None
    children: list[str] = field(default_factory=list)  # its child jobs (and theirs) cancelled with it


def cancel(store: Store, job_id: str, *, reason: str | None = None, keep_children: bool = False) -> Change:
    """Make a job final: Cancelled. Not for a Completed or Cancelled job, nor for a Running job whose
    lease holds (psflow cannot stop an attempt running elsewhere); a Running job whose lease ran out
    (its runner died) can be cancelled, and its unfinished attempt ends Cancelled.

    The child jobs it started (start()) that have not ended are cancelled with it, and theirs, unless
    `keep_children`: a Running child too (its runner's next write fails and it stops, recording nothing)."""
    job = store.find_job(job_id)
    _check_changeable(job, "cancel it", store.clock.now())
    reason = storable(reason) if reason else f"cancelled by {user_name()}"
    running = job.status == JobStatus.RUNNING
    if not store.set_status(
        job, status=JobStatus.CANCELLED, reason=reason, end_attempts=running, check_lease=not runner_gone(job)
    ):
        raise UsageError(_changed_meanwhile(job))
    children: list[str] = []
    level = [job.id]
    while level and not keep_children:
        level = store.cancel_children(level, f"cancelled with its parent job {job.id}: {reason}")
        children += level
    return Change(job.id, job.status, JobStatus.CANCELLED, reason, children)


def retry(store: Store, job_id: str) -> Change:
    """Put a Failed job back to Waiting, for the next `psflow resume` (or worker) to run."""
    job = store.find_job(job_id)
    if job.status != JobStatus.FAILED:
        raise UsageError(
            f"job {job.id} is {job.status}, not Failed: retry is for failed jobs"
            + (
                f" (`psflow resume --job {job.id}` runs it)"
                if job.status not in (*FINAL_STATUSES, JobStatus.RUNNING)
                else ""
            )
        )
    reason = f"retry after: {job.reason}" if job.reason else "retry"
    if not store.set_status(job, status=JobStatus.WAITING, reason=reason):
        raise UsageError(_changed_meanwhile(job))
    return Change(job.id, job.status, JobStatus.WAITING, reason)


@dataclass(frozen=True)
class Removal:
    """Jobs deleted (or, with dry_run, that would be) and how many rows went with them."""

    jobs: list[dict]  # job summaries, as `psflow jobs --json` shows them (prune: only their ids)
    counts: dict[str, int] = field(default_factory=dict)  # rows per table: jobs, attempts, blocks, inputs
    dry_run: bool = False


@dataclass(frozen=True)
class PruneProgress:
    """How far a prune is: jobs deleted so far, of how many found when it began."""

    deleted: int
    total: int


def remove(store: Store, job_ids: Iterable[str], *, force: bool = False) -> Removal:
    """Delete jobs with their attempts, block runs and inputs. All the ids are checked first; a
    Running job whose lease holds is refused unless `force` (its runner's next write then fails)."""
    found: dict[str, JobView] = {}
    unread: dict[str, str] = {}  # jobs whose rows psflow cannot read (edited by hand): deleted as they are
    for job_id in job_ids:
        try:
            job = store.find_job(job_id)
        except EditedRow as error:
            if not force or error.job_id != job_id:
                raise EditedRow(
                    f"{error}; `psflow rm --force {error.job_id}` deletes it as it is", error.job_id
                ) from None
            unread[job_id] = str(error)
            continue
        found[job.id] = job
    now = store.clock.now()
    for job in found.values():
        if not force and lease_holds_here(job, now):
            raise UsageError(f"{_running(job, now)}; give --force to delete it anyway (its runner then fails)")
    # Each lease was checked just now (runners gone count as lapsed).
    counts = store.delete_jobs(list(found.values()), force=True, unread=list(unread))
    if isinstance(counts, JobView):
        raise UsageError(_changed_meanwhile(counts))
    gone = [job.to_json() for job in found.values()] + [{"id": job_id, "status": "unreadable"} for job_id in unread]
    return Removal(gone, counts)


def prune(
    store: Store,
    *,
    older_than: str,
    statuses: Iterable[str] = (),
    dry_run: bool = False,
    progress: Callable[[PruneProgress], None] | None = None,
    batch: int | None = None,
) -> Removal:
    """Delete jobs in `statuses` (default: the final ones, Completed and Cancelled) last updated
    more than `older_than` ago (30d, 12h, 45m, 90s, 2w, 1d12h), with their history.

    It goes through the jobs in the order of their ids, a batch at a time, each batch its own short
    transaction, so that jobs running meanwhile can still write: `batch` jobs looked at each time if
    given, else as many as take about PRUNE_BATCH_SECONDS (the size adapts to how much history the
    jobs have). `progress` hears after each batch that deleted something.
    """
    seconds = parse_age(older_than)
    if seconds is None:
        raise UsageError(
            f"--older-than takes a duration like 30d, 12h, 45m or 90s (units s, m, h, d, w), not {older_than!r}"
        )
    wanted = list(dict.fromkeys(statuses)) or list(FINAL_STATUSES)
    if JobStatus.RUNNING in wanted:
        raise UsageError("prune never deletes Running jobs: cancel them first (or `psflow rm --force`)")
    before = store.clock.now() - seconds
    if dry_run:
        return Removal([job.to_json() for job in store.prunable_jobs(wanted, before)], dry_run=True)
    total = store.count_jobs(wanted, updated_before=before)
    size = batch or PRUNE_FIRST_BATCH
    deleted: list[str] = []
    counts = dict.fromkeys(("jobs", "attempts", "blocks", "inputs"), 0)
    position: str | None = ""
    while position is not None:
        started = time.perf_counter()
        ids, batch_counts, position = store.prune_jobs(wanted, before, limit=size, after=position)
        deleted += ids
        counts = {table: counts[table] + count for table, count in batch_counts.items()}
        if ids and progress is not None:
            progress(PruneProgress(len(deleted), max(total, len(deleted))))
        took = time.perf_counter() - started
        if batch is None and ids:  # sized by batches that deleted: a stretch of jobs kept is quick to
            size = _next_batch(size, took)  # look at, and would grow the batch that meets the next old ones
        # A pause as long as the batch (at most PRUNE_BATCH_SECONDS): SQLite grants a waiting writer the
        # lock only when its busy handler happens to retry, which back-to-back batches would never let be.
        if position is not None:
            store.clock.sleep(min(took, PRUNE_BATCH_SECONDS))
    return Removal([{"id": job_id} for job_id in deleted], counts)


PRUNE_BATCH_SECONDS = 0.05  # well under the ~100 ms a concurrent writer may wait for the lock
PRUNE_FIRST_BATCH = 100
# Below this, a batch's time is its commit (an fsync) more than its work: smaller batches would hold
# the lock no shorter, and a busy disk would shrink them until pruning crawled.
PRUNE_MIN_BATCH = 100
PRUNE_MAX_BATCH = 2000


def _next_batch(size: int, took: float) -> int:
    """The next batch size: aimed at PRUNE_BATCH_SECONDS from how long `size` jobs took."""
    aimed = int(size * PRUNE_BATCH_SECONDS / max(took, 1e-6))
    return max(PRUNE_MIN_BATCH, min(PRUNE_MAX_BATCH, aimed, size * 2))


# ---- helpers ------------------------------------------------------------------


def _check_changeable(job: JobView, what: str, now: float) -> None:
    if job.status in FINAL_STATUSES:
        raise UsageError(f"job {job.id} is already {job.status}: cannot {what}")
    if lease_holds_here(job, now):
        raise UsageError(f"{_running(job, now)}: psflow cannot {what} while it runs; wait for it to end")


def _running(job: JobView, now: float) -> str:
    return f"job {job.id} is {running_note(job, now)}"


def _changed_meanwhile(job: JobView) -> str:
    return f"job {job.id} changed while this ran (another runner or command took it): nothing was changed; try again"
