"""Seeing what happened: the job list, the status board, and one job's history.

`job_detail` gives per attempt which blocks ran and which were replayed; every
block run's output (`psflow logs`) is in psflow.service.transcripts.
Nothing here writes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from psflow.domain import WAITS_FOR_CHILDREN, WORKER_STATUSES, JobStatus, RunStatus, is_due
from psflow.errors import EditedRow, UsageError
from psflow.service.due import runner_gone, waits_note
from psflow.service.queues import full_note, full_queues
from psflow.store import BlockRun, ChildView, InputView, JobView, Store


def jobs(
    store: Store,
    *,
    statuses: Iterable[str] = (),
    limit: int | None = None,
    edited: Callable[[EditedRow], None] | None = None,
) -> list[dict[str, Any]]:
    """Jobs as `psflow jobs --json` shows them, most recently updated first, each with what it waits for.
    `edited`: told of each job whose row a hand edit made unreadable, which is left out (else: EditedRow)."""
    statuses = list(statuses)
    check_statuses(store, statuses)
    now = store.clock.now()
    found = store.list_jobs(statuses, limit=limit, edited=edited)
    counts = _awaited_counts(store, found)
    held = _held_back(store, found, now)
    return [
        {**job.to_json(), "waits": waits_note(job, now, counts.get(job.id)) or held.get(job.id, "")} for job in found
    ]


def _held_back(store: Store, found: list[JobView], now: float) -> dict[str, str]:
    """The due jobs a worker would take but for their queue being at its limit, and what to say of them
    (one small query, only when such a job is listed)."""
    due = [job for job in found if job.status in WORKER_STATUSES and is_due(job, now)]
    full = full_queues(store) if due else {}
    return {job.id: full_note(job.queue, *full[job.queue]) for job in due if job.queue in full}


def _awaited_counts(store: Store, found: list[JobView]) -> dict[str, tuple[int, int]]:
    """For the jobs that wait for child jobs: how many of those they await have not ended, of how many."""
    parents = [job.id for job in found if job.waits_for == WAITS_FOR_CHILDREN]
    return store.awaited_counts(parents) if parents else {}


def job_count(store: Store, *, statuses: Iterable[str] = ()) -> int:
    """How many jobs `jobs` would list without a limit."""
    return store.count_jobs(list(statuses))


def status(store: Store) -> dict[str, Any]:
    """`psflow status`: how many jobs in each status, and what needs a look: jobs waiting for input
    (which, since when), timers due within the hour, Running jobs whose runner is gone or whose
    lease lapsed, and jobs that failed in the last 24 hours."""
    now = store.clock.now()
    waiting = [
        {"id": job.id, "name": job.name, "input": job.waits_for, "since": job.waiting_since, "timeout": job.due_at}
        for job in store.jobs_matching(waiting_for_input=True)
        if job.waits_for != WAITS_FOR_CHILDREN
    ]
    timers = [
        {"id": job.id, "name": job.name, "due": job.due_at}
        for job in store.jobs_matching(statuses=[JobStatus.WAITING], due_between=(now, now + 3600))
        if job.waits_for is None
    ]
    running = store.jobs_matching(statuses=[JobStatus.RUNNING])
    lapsed = [
        {
            "id": job.id,
            "name": job.name,
            "host": job.owner_host,
            "pid": job.owner_pid,
            "lease_until": job.lease_until,
            "runner_gone": runner_gone(job),
        }
        for job in running
        if (job.lease_until or 0) < now or runner_gone(job)
    ]
    failed = [
        {"id": job.id, "name": job.name, "reason": job.reason, "updated": job.updated_at}
        for job in store.jobs_matching(statuses=[JobStatus.FAILED], updated_after=now - 86400)
    ]
    return {
        "counts": dict(sorted(store.status_counts().items())),
        "waiting_for_input": waiting,
        "timers_next_hour": timers,
        "lapsed_leases": lapsed,
        "failed_last_24h": failed,
    }


def check_statuses(store: Store, statuses: Iterable[str]) -> None:
    """A status no job has that is a near miss of one that some job has (`waiting`) is a mistake."""
    known = set(store.status_counts()) | {JobStatus.WAITING, JobStatus.FAILED, JobStatus.INTERRUPTED, JobStatus.QUEUED}
    for status in statuses:
        if status in known:
            continue
        near = [name for name in known if name.lower() == status.lower()] or difflib.get_close_matches(status, known, 1)
        if near:
            raise UsageError(f"no job has status {status!r} (did you mean {near[0]!r}?)")


def job_detail(store: Store, job_id: str) -> dict[str, Any]:
    """One job (id or unique prefix) as `psflow job --json` shows it: the job; `blocks`, the latest
    state of each block in the order they first ran; `runs`, every recorded run; `inputs`; and
    `attempt_history`, per attempt how it ended, whether its source changed, the inputs it newly
    had, and each block it executed or replayed."""
    job = store.find_job(job_id)
    detail = {**job.to_json(), "waits": waits_note(job, store.clock.now(), _awaited_counts(store, [job]).get(job.id))}
    detail["result"] = shown_value(store.job_result(job.id))
    detail["children"] = _child_tree(store, job.id)
    runs = [run.to_json() for run in store.block_runs(job.id)]
    _add_code_changes(runs)
    latest: dict[str, dict[str, Any]] = {}
    for run in runs:  # in the order they ran: a name keeps its first place, and its last state
        latest[run["name"]] = run
    detail["blocks"] = list(latest.values())
    detail["runs"] = runs
    detail["inputs"] = [_input_json(sent) for sent in store.inputs(job.id)]
    detail["attempt_history"] = _attempt_history(store, job, runs, detail["inputs"], list(latest))
    return detail


def shown_value(text: str | None) -> Any:
    """A stored value (codec text) as plain JSON data for people, never the live object (psflow.codec.display)."""
    if text is None:
        return None
    from psflow.codec import to_display

    try:
        return to_display(text)
    except ValueError:
        return text


_TREE_DEPTH = 8  # levels of grandchildren `psflow job` shows


def _child_tree(store: Store, parent: str) -> list[dict[str, Any]]:
    """The jobs `parent` started, each with the jobs it started (`children`), a level per query."""
    top: list[dict[str, Any]] = []
    level = {parent: top}
    for _ in range(_TREE_DEPTH):
        found = store.children_of(list(level))
        if not found:
            break
        following: dict[str, list[dict[str, Any]]] = {}
        for child in found:
            entry = {**_child_json(child), "children": []}
            level[child.parent or parent].append(entry)
            following[child.id] = entry["children"]
        level = following
    return top


def _child_json(child: ChildView) -> dict[str, Any]:
    return {
        "id": child.id,
        "script": child.workflow or child.script,
        "args": list(child.args),
        "status": child.status,
        "reason": child.reason,
        "awaited": child.awaited,
        "result": shown_value(child.result),
    }


def _attempt_history(
    store: Store, job: JobView, runs: list[dict[str, Any]], inputs: list[dict[str, Any]], order: list[str]
) -> list[dict[str, Any]]:
    history = []
    source, started_before = None, float("-inf")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_name.setdefault(run["name"], []).append(run)
    for attempt in store.attempts(job.id, with_output=False):
        entry = attempt.to_json()
        entry["source_changed"] = source is not None and attempt.source_sha256 != source
        entry["inputs_received"] = [
            sent["name"] for sent in inputs if started_before < sent["received"] <= attempt.started_at
        ]
        entry["blocks"] = _attempt_blocks(by_name, order, attempt.number)
        source, started_before = attempt.source_sha256, attempt.started_at
        history.append(entry)
    return history


def _add_code_changes(runs: list[dict[str, Any]]) -> None:
    """Each run: whether its code fingerprint differs from the block's run before (None: unknown)."""
    previous: dict[str, str] = {}
    for run in runs:  # in the order recorded: attempts ascend
        before = previous.get(run["name"])
        run["code_changed"] = None if before is None or run["fingerprint"] is None else before != run["fingerprint"]
        if run["fingerprint"] is not None:
            previous[run["name"]] = run["fingerprint"]


def _attempt_blocks(by_name: dict[str, list[dict[str, Any]]], order: list[str], number: int) -> list[dict[str, Any]]:
    """The blocks attempt `number` executed (a run recorded in it) or replayed (Completed in an
    earlier attempt and still valid then), in the order the job's blocks first ran (`by_name`: each
    block's runs, in the order recorded).

    psflow records no row for a replay (it costs nothing), so "replayed" means "valid from an
    earlier attempt when this one ran": a block the attempt stopped before is listed too. A run
    marked Rerun counts as valid up to the attempt that ran the block again.
    """
    entries = []
    for name in order:
        earlier, here = None, None
        for run in by_name[name]:  # attempts ascend
            if run["attempt"] >= number:
                here = run if run["attempt"] == number else None
                break
            earlier = run
        if here is not None:
            entries.append(_entry(here, "executed", here["status"]))
        elif earlier is not None and earlier["status"] in (RunStatus.COMPLETED, RunStatus.RERUN):
            entries.append(_entry(earlier, "replayed", RunStatus.COMPLETED))
    return entries


def _entry(run: dict[str, Any], state: str, status: str) -> dict[str, Any]:
    return {
        "name": run["name"],
        "status": status,
        "attempt": run["attempt"],
        "host": run["host"],
        "started": run["started"],
        "duration": run["duration"],
        "tries": run["tries"],
        "fingerprint": run["fingerprint"],
        "code_changed": run["code_changed"],
        "state": state,
    }


def _input_json(sent: InputView) -> dict[str, Any]:
    """An input as plain JSON, never decoded into live objects: the row may be forged, and
    showing it must not import or build what it names. The codec loads here, with a job's
    inputs: listing jobs needs none of it."""
    from psflow.codec import to_display

    try:
        value = to_display(sent.value)
    except ValueError:
        value = sent.value  # not codec text at all: shown as stored
    return {"name": sent.name, "value": value, "host": sent.host, "user": sent.user, "received": sent.received}


def block_names(runs: list[BlockRun]) -> list[str]:
    return list(dict.fromkeys(run.name for run in runs))


def unknown_block(job: JobView, name: str, names: list[str]) -> str:
    if not names:
        return f"job {job.id} has no block runs yet: no block {name!r}"
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    return f"job {job.id} has no block {name!r} (block names are case-sensitive): its blocks are {shown}"
