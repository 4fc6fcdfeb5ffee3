"""Seeing what happened to a job, and changing what happens next.

Reading: `job_history` (per attempt, which blocks ran and which were replayed),
`transcript` and `follow` (every block run's captured output, in order).
Changing: `rerun` (blocks run again on the next attempt; their runs stay in the
history as Rerun), `cancel`, `retry`, `remove` and `prune`. Each change is one
transaction, conditional on the job being as it was read: a job that moved on
meanwhile is left alone and the user is told to try again. Bad input raises
psflow.api.UsageError before anything is written.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from psflow.api import UsageError, connect, job_detail, job_summary
from psflow.store import FINAL_STATUSES
from psflow.store.models import Block, Job

RERUN = "Rerun"  # a Completed block run the user asked to run again: kept for history, never replayed
FOLLOW_POLL_SECONDS = 0.5
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([smhdw]))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# ---- psflow job: what each attempt ran and replayed -----------------------------


def job_history(job_id: str, *, db: str | None = None) -> dict:
    """`psflow.api.job_detail`, plus per attempt (in `attempt_history`): `source_changed`,
    `inputs_received` and `blocks` — each block executed in that attempt or replayed from an
    earlier one — and per run (in `runs` and `blocks`) its code `fingerprint` and `code_changed`."""
    detail = job_detail(job_id, db=db)
    _add_fingerprints(detail, connect(db).block_fingerprints(detail["id"]))
    order = [block["name"] for block in detail["blocks"]]
    source, started_before = None, float("-inf")
    for attempt in detail["attempt_history"]:
        attempt["source_changed"] = source is not None and attempt["source_sha256"] != source
        attempt["inputs_received"] = [
            sent["name"] for sent in detail.get("inputs", []) if started_before < sent["received"] <= attempt["started"]
        ]
        attempt["blocks"] = _attempt_blocks(detail["runs"], order, attempt["number"])
        source, started_before = attempt["source_sha256"], attempt["started"]
    return detail


def _add_fingerprints(detail: dict, fingerprints: dict[tuple[str, int], str]) -> None:
    """Each run's code fingerprint, and whether it differs from the block's run before (None: unknown)."""
    previous: dict[str, str] = {}
    for run in detail["runs"]:  # in the order recorded: attempts ascend
        run["fingerprint"] = fingerprints.get((run["name"], run["attempt"]))
        before = previous.get(run["name"])
        run["code_changed"] = None if before is None or run["fingerprint"] is None else before != run["fingerprint"]
        if run["fingerprint"] is not None:
            previous[run["name"]] = run["fingerprint"]
    latest = {run["name"]: run for run in detail["runs"]}
    for block in detail["blocks"]:
        block["fingerprint"] = latest[block["name"]]["fingerprint"]
        block["code_changed"] = latest[block["name"]]["code_changed"]


def _attempt_blocks(runs: list[dict], order: list[str], number: int) -> list[dict]:
    """The blocks attempt `number` executed (a run recorded in it) or replayed (Completed in an
    earlier attempt and still valid then), in the order the job's blocks first ran.

    psflow records no row for a replay (it costs nothing), so "replayed" means "valid from an
    earlier attempt when this one ran": a block the attempt stopped before is listed too. A run
    marked Rerun counts as valid up to the attempt that ran the block again.
    """
    by_name: dict[str, list[dict]] = {}
    for run in runs:
        by_name.setdefault(run["name"], []).append(run)
    entries = []
    for name in order:
        history = by_name[name]
        here = next((run for run in history if run["attempt"] == number), None)
        if here is not None:
            entries.append({**_entry(here), "state": "executed"})
            continue
        earlier = [run for run in history if run["attempt"] < number]
        if earlier and earlier[-1]["status"] in ("Completed", RERUN):
            entries.append({**_entry(earlier[-1]), "state": "replayed", "status": "Completed"})
    return entries


def _entry(run: dict) -> dict:
    return {
        key: run[key]
        for key in ("name", "status", "attempt", "host", "started", "duration", "tries", "fingerprint", "code_changed")
    }


# ---- psflow logs: every block run's output -------------------------------------


def transcript(
    job_id: str, *, block: str | None = None, attempt: int | None = None, db: str | None = None
) -> tuple[dict, list[dict]]:
    """The job (a summary) and its block runs with their captured output, in the order recorded,
    optionally only block `block` and/or attempt `attempt`."""
    store = connect(db)
    job = store.find_job(job_id)
    runs = store.block_runs(job.id)
    _check_filters(job, runs, block, attempt)
    return job_summary(job), [_log_entry(run) for run in runs if _wanted(run, block, attempt)]


def follow(
    job_id: str,
    on_run: Callable[[dict], None],
    *,
    block: str | None = None,
    attempt: int | None = None,
    db: str | None = None,
    poll: float = FOLLOW_POLL_SECONDS,
) -> dict | None:
    """Tell `on_run` every block run of the job (those recorded so far, then each new one as it is
    recorded) until the job is no longer Running; the job as it ended (a summary), or None if it was deleted."""
    store = connect(db)
    job = store.find_job(job_id)
    _check_filters(job, [], block, attempt, following=True)
    last = 0
    while True:
        # The status first, then the runs: everything a job recorded before it ended is seen.
        current = store.get_job(job.id)
        running = current is not None and current.status == "Running"
        for run in store.block_runs(job.id, after_id=last):
            if running and run.status == "Retrying":
                break  # shown once its tries are over, with all their output (later runs wait for it)
            last = run.id
            if _wanted(run, block, attempt):
                on_run(_log_entry(run))
        if current is None:
            return None
        if current.status != "Running":
            return job_summary(current)
        time.sleep(poll)


def _check_filters(
    job: Job, runs: list[Block], block: str | None, attempt: int | None, *, following: bool = False
) -> None:
    """An unknown block or attempt is a mistake, except when following (it may come yet)."""
    if attempt is not None and attempt < 1:
        raise UsageError(f"--attempt must be 1 or more, not {attempt}")
    if following:
        return
    if attempt is not None and attempt > job.attempts:
        raise UsageError(f"job {job.id} has {job.attempts} attempt(s): there is no attempt {attempt}")
    if block is not None and not any(run.name == block for run in runs):
        raise UsageError(_unknown_block(job, block, _names(runs)))


def _wanted(run: Block, block: str | None, attempt: int | None) -> bool:
    return (block is None or run.name == block) and (attempt is None or run.attempt == attempt)


def _log_entry(run: Block) -> dict:
    return {
        "name": run.name,
        "attempt": run.attempt,
        "status": run.status,
        "host": run.host,
        "pid": run.pid,
        "started": run.started_at,
        "ended": run.ended_at,
        "duration": round(run.ended_at - run.started_at, 6),
        "tries": run.tries,
        "output": run.output or "",
        "error": run.error,
    }


# ---- psflow rerun --------------------------------------------------------------


@dataclass(frozen=True)
class RerunResult:
    """What `rerun` marked, and where that left the job."""

    job_id: str
    marked: list[str]  # block names whose Completed run is now Rerun, in the order they ran
    enclosing: list[str]  # of those, blocks marked because they contain a chosen one
    status_before: str
    status: str


def rerun(
    job_id: str, *, from_block: str | None = None, only: Iterable[str] = (), db: str | None = None
) -> RerunResult:
    """Make the next attempt run blocks again: `from_block` and every block completed after it, or
    just the blocks `only`. Their Completed runs become Rerun (kept in history, not replayed).

    Blocks that enclose a chosen one are marked too (a replayed block's body does not run, so
    nothing inside it would). A Completed or Failed job goes to Waiting so `resume` takes it.
    """
    only = list(only)
    if (from_block is None) == (not only):
        raise UsageError(
            "give either --from BLOCK (it and every block completed after it) or --only BLOCK, not both"
            if only else "say which blocks to run again: --from BLOCK or --only BLOCK"
        )
    store = connect(db)
    job = store.find_job(job_id)
    if job.status == "Cancelled":
        raise UsageError(f"job {job.id} was cancelled: it never runs again; start a new job instead")
    if _lease_holds(job):
        raise UsageError(f"{_running_note(job)}: psflow cannot change its blocks while it runs; wait for it to end")
    runs = store.block_runs(job.id)
    names = _names(runs)
    for name in ([from_block] if from_block is not None else only):
        if name not in names:
            raise UsageError(_unknown_block(job, name, names))
    chosen = _later_blocks(runs, from_block) if from_block is not None else set(only)
    # With --from, only what encloses BLOCK can be missing: whatever encloses a later block either
    # started after BLOCK (it is a later block itself) or encloses BLOCK too.
    enclosing = _enclosing(runs, {from_block} if from_block is not None else chosen) - chosen
    completed = [name for name in _completion_order(runs) if name in chosen | enclosing]
    if not completed:
        what = f"block {from_block!r} and the blocks after it have" if from_block else "the chosen block(s) have"
        raise UsageError(
            f"job {job.id}: {what} no completed run to redo: "
            "a block that did not complete runs on the next attempt anyway"
        )
    changes: dict = {}
    status = job.status
    if job.status in ("Completed", "Failed"):
        status = "Waiting"
        reason = f"rerun from {from_block}" if from_block is not None else f"rerun {', '.join(only)}"
        changes = {"status": status, "reason": reason, "due_at": None}
    if not store.mark_rerun(job, completed, changes=changes):
        raise UsageError(_changed_meanwhile(job))
    around = [name for name in completed if name in enclosing]
    return RerunResult(job.id, completed, around, job.status, status)


def _completion_order(runs: list[Block]) -> list[str]:
    """Names with a Completed run, ordered by when that run started (then as recorded)."""
    completed = [run for run in runs if run.status == "Completed"]
    completed.sort(key=lambda run: (run.started_at, run.id))
    return list(dict.fromkeys(run.name for run in completed))


def _later_blocks(runs: list[Block], name: str) -> set[str]:
    """`name` and every block whose Completed run started at or after `name`'s latest run did."""
    latest = [run for run in runs if run.name == name][-1]
    # By start, not by when recorded: a block nested in `name` is recorded before it but runs after it.
    return {run.name for run in runs if run.status == "Completed" and run.started_at >= latest.started_at} | {name}


def _enclosing(runs: list[Block], names: set[str]) -> set[str]:
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


def cancel(job_id: str, *, reason: str | None = None, db: str | None = None) -> Change:
    """Make a job final: Cancelled. Not for a Completed or Cancelled job, nor for a Running job whose
    lease holds (psflow cannot stop an attempt running elsewhere); a Running job whose lease ran out
    (its runner died) can be cancelled, and its unfinished attempt ends Cancelled."""
    store = connect(db)
    job = store.find_job(job_id)
    _check_changeable(job, "cancel it")
    reason = reason or f"cancelled by {_user()}"
    if not store.set_status(job, status="Cancelled", reason=reason, end_attempts=job.status == "Running"):
        raise UsageError(_changed_meanwhile(job))
    return Change(job.id, job.status, "Cancelled", reason)


def retry(job_id: str, *, db: str | None = None) -> Change:
    """Put a Failed job back to Waiting, for the next `psflow resume` (or worker) to run."""
    store = connect(db)
    job = store.find_job(job_id)
    if job.status != "Failed":
        raise UsageError(
            f"job {job.id} is {job.status}, not Failed: retry is for failed jobs"
            + (f" (`psflow resume --job {job.id}` runs it)" if job.status not in (*FINAL_STATUSES, "Running") else "")
        )
    reason = f"retry after: {job.reason}" if job.reason else "retry"
    if not store.set_status(job, status="Waiting", reason=reason):
        raise UsageError(_changed_meanwhile(job))
    return Change(job.id, job.status, "Waiting", reason)


@dataclass(frozen=True)
class Removal:
    """Jobs deleted (or, with dry_run, that would be) and how many rows went with them."""

    jobs: list[dict]  # job summaries, as `psflow jobs --json` shows them
    counts: dict[str, int] = field(default_factory=dict)  # rows per table: jobs, attempts, blocks, inputs
    dry_run: bool = False


def remove(job_ids: Iterable[str], *, force: bool = False, db: str | None = None) -> Removal:
    """Delete jobs with their attempts, block runs and inputs. All the ids are checked first; a
    Running job whose lease holds is refused unless `force` (its runner's next write then fails)."""
    store = connect(db)
    found = list({job.id: job for job in (store.find_job(job_id) for job_id in job_ids)}.values())
    for job in found:
        if not force and _lease_holds(job):
            raise UsageError(f"{_running_note(job)}; give --force to delete it anyway (its runner then fails)")
    counts = store.delete_jobs(found, force=force)
    if isinstance(counts, Job):
        raise UsageError(_changed_meanwhile(counts))
    return Removal([job_summary(job) for job in found], counts)


def prune(
    *, older_than: str, statuses: Iterable[str] = (), dry_run: bool = False, db: str | None = None
) -> Removal:
    """Delete jobs in `statuses` (default: the final ones, Completed and Cancelled) last updated
    more than `older_than` ago (30d, 12h, 45m, 90s, 2w, 1d12h), with their history, in one transaction."""
    seconds = parse_age(older_than)
    statuses = list(dict.fromkeys(statuses)) or list(FINAL_STATUSES)
    if "Running" in statuses:
        raise UsageError("prune never deletes Running jobs: cancel them first (or `psflow rm --force`)")
    store = connect(db)
    before = time.time() - seconds
    if dry_run:
        return Removal([job_summary(job) for job in store.prunable_jobs(statuses, before)], dry_run=True)
    candidates = {job.id: job for job in store.prunable_jobs(statuses, before)}
    ids, counts = store.prune_jobs(statuses, before)
    deleted = [job_summary(candidates[job_id]) if job_id in candidates else {"id": job_id} for job_id in ids]
    return Removal(deleted, counts)


def parse_age(text: str) -> float:
    """Seconds in a duration such as 30d, 12h, 45m, 90s, 2w or 1d12h."""
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    if not _DURATION.fullmatch(cleaned):
        raise UsageError(
            f"--older-than takes a duration like 30d, 12h, 45m or 90s (units s, m, h, d, w), not {text!r}"
        )
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(cleaned))


# ---- helpers ------------------------------------------------------------------


def _check_changeable(job: Job, what: str) -> None:
    if job.status in FINAL_STATUSES:
        raise UsageError(f"job {job.id} is already {job.status}: cannot {what}")
    if _lease_holds(job):
        raise UsageError(f"{_running_note(job)}: psflow cannot {what} while it runs; wait for it to end")


def _lease_holds(job: Job) -> bool:
    return job.status == "Running" and (job.lease_until or 0) >= time.time()


def _running_note(job: Job) -> str:
    left = max(0.0, (job.lease_until or 0) - time.time())
    return (
        f"job {job.id} is Running on {job.owner_host} (pid {job.owner_pid}); "
        f"its lease runs out in {left:.0f}s if that runner is gone"
    )


def _changed_meanwhile(job: Job) -> str:
    return f"job {job.id} changed while this ran (another runner or command took it): nothing was changed; try again"


def _names(runs: list[Block]) -> list[str]:
    return list(dict.fromkeys(run.name for run in runs))


def _unknown_block(job: Job, name: str, names: list[str]) -> str:
    if not names:
        return f"job {job.id} has no block runs yet: no block {name!r}"
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    return f"job {job.id} has no block {name!r} (block names are case-sensitive): its blocks are {shown}"


def _user() -> str:
    import getpass
    import os

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
