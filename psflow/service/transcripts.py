"""`psflow logs`: every block run's captured output, in the order recorded.

`transcript` reads it all, `stream_transcript` a page at a time, and `follow`
tells each new run (and the running block's output) until the job ends.
Nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from psflow.domain import JobStatus, RunStatus
from psflow.errors import UsageError
from psflow.service.history import unknown_block
from psflow.store import AttemptView, BlockRun, JobView, Store

FOLLOW_POLL_SECONDS = 0.5
LOG_PAGE = 16  # block runs, with their output, that `logs` holds at once at most
LOG_CHARACTERS = 32 * 1024 * 1024  # output a page of them holds, about


def transcript(
    store: Store, job_id: str, *, block: str | None = None, attempt: int | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The job (a summary) and its transcript in the order recorded: each block run with its captured
    output (and what the attempt printed just before it, `lead`), and, for an attempt that printed
    something after its last block or ended with an exception no block caught, that attempt's end
    (`kind` "attempt"). Optionally only block `block` and/or attempt `attempt`."""
    job, entries = stream_transcript(store, job_id, block=block, attempt=attempt)
    return job, list(entries)


def stream_transcript(
    store: Store, job_id: str, *, block: str | None = None, attempt: int | None = None
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """`transcript`, its entries read from the database as they are consumed (LOG_PAGE block runs at
    a time): `psflow logs` prints any amount of output in bounded memory. Bad filters raise now."""
    job = store.find_job(job_id)
    _check_filters(job, block, attempt, store.block_names(job.id) if block is not None else [])
    entries: Iterator[dict[str, Any]] = (
        _log_entry(run) for run in _runs_with_output(store, job.id) if _wanted(run, block, attempt)
    )
    if block is None:
        endings = [
            _attempt_entry(ended)
            for ended in store.attempts(job.id)
            if (ended.output or ended.error) and attempt in (None, ended.number)
        ]
        entries = _in_order(entries, endings)
    return job.to_json(), entries


def _runs_with_output(store: Store, job_id: str, *, after_id: int = 0) -> Iterator[BlockRun]:
    """The job's block runs after row `after_id` with their output, a page at a time: up to LOG_PAGE
    runs, fewer when their output is large (a page holds about LOG_CHARACTERS of it)."""
    size = 1
    while True:
        page = store.block_runs(job_id, after_id=after_id, with_output=True, limit=size)
        yield from page
        if len(page) < size:
            return
        after_id = page[-1].id
        held = sum(len(run.output or "") + len(run.lead or "") for run in page)
        size = max(1, min(LOG_PAGE, size * 2, size * LOG_CHARACTERS // max(held, 1)))


def _in_order(runs: Iterable[dict[str, Any]], endings: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each attempt's ending after that attempt's last block run (runs are in the order recorded)."""
    pending = sorted(endings, key=lambda entry: entry["attempt"])
    for run in runs:
        while pending and pending[0]["attempt"] < run["attempt"]:
            yield pending.pop(0)
        yield run
    yield from pending


def follow(
    store: Store,
    job_id: str,
    on_run: Callable[[dict[str, Any]], None],
    *,
    block: str | None = None,
    attempt: int | None = None,
    poll: float = FOLLOW_POLL_SECONDS,
) -> dict[str, Any] | None:
    """Tell `on_run` every block run of the job (those recorded so far, then each new one as it is
    recorded) and, meanwhile, the output of the block running now as it is produced (entries of
    `kind` "live", then the finished run with only what was not shown yet), until the job is no
    longer Running; the job as it ended (a summary), or None if it was deleted."""
    job = store.find_job(job_id)
    _check_filters(job, block, attempt, [], following=True)
    last = 0
    shown: dict[tuple[int, str], int] = {}  # (attempt, block) → characters of its output already shown live
    while True:
        # The status first, then the runs: everything a job recorded before it ended is seen.
        current = store.get_job(job.id)
        running = current is not None and current.status == JobStatus.RUNNING
        for run in _runs_with_output(store, job.id, after_id=last):
            if running and run.status == RunStatus.RETRYING:
                break  # shown once its tries are over, with all their output (later runs wait for it)
            last = run.id
            if _wanted(run, block, attempt):
                entry = _log_entry(run)
                entry["shown"] = shown.pop((run.attempt, run.name), 0)
                on_run(entry)
        if current is None:
            return None
        if current.status != JobStatus.RUNNING:
            return current.to_json()
        _follow_live(store, job.id, on_run, shown, block, attempt)
        store.clock.sleep(poll)


def _follow_live(
    store: Store,
    job_id: str,
    on_run: Callable[[dict[str, Any]], None],
    shown: dict[tuple[int, str], int],
    block: str | None,
    attempt: int | None,
) -> None:
    """The running block's output that was not shown yet, as a `live` entry."""
    live = store.live_output(job_id)
    if not live:
        return
    state = json.loads(live)
    name, number, text = state["block"], state["attempt"], state["text"]
    if name is None or (block is not None and name != block) or (attempt is not None and number != attempt):
        return
    done = shown.get((number, name), 0)
    if len(text) > done:
        on_run({"kind": "live", "name": name, "attempt": number, "output": text[done:], "first": done == 0})
        shown[(number, name)] = len(text)


def _check_filters(
    job: JobView, block: str | None, attempt: int | None, names: list[str], *, following: bool = False
) -> None:
    """An unknown block (not in `names`) or attempt is a mistake, except when following (it may come yet)."""
    if attempt is not None and attempt < 1:
        raise UsageError(f"--attempt must be 1 or more, not {attempt}")
    if following:
        return
    if attempt is not None and attempt > job.attempts:
        raise UsageError(f"job {job.id} has {job.attempts} attempt(s): there is no attempt {attempt}")
    if block is not None and block not in names:
        raise UsageError(unknown_block(job, block, names))


def _wanted(run: BlockRun, block: str | None, attempt: int | None) -> bool:
    return (block is None or run.name == block) and (attempt is None or run.attempt == attempt)


def _log_entry(run: BlockRun) -> dict[str, Any]:
    return {
        "kind": "block",
        "name": run.name,
        "attempt": run.attempt,
        "status": run.status,
        "host": run.host,
        "pid": run.pid,
        "started": run.started_at,
        "ended": run.ended_at,
        "duration": run.duration,
        "tries": run.tries,
        "output": run.output or "",
        "error": run.error,
        "lead": run.lead or "",
    }


def _attempt_entry(attempt: AttemptView) -> dict[str, Any]:
    return {
        "kind": "attempt",
        "attempt": attempt.number,
        "status": attempt.outcome,
        "reason": attempt.reason,
        "host": attempt.host,
        "ended": attempt.ended_at,
        "output": attempt.output or "",
        "error": attempt.error,
    }
