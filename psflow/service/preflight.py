"""Looking before running: `psflow check` and `psflow resume --dry-run`.

`check` lists a script's blocks and what would go wrong with them (the rules are
in psflow.transform.rules). `plan_resume` says, per job `psflow resume` would
take, which blocks would replay, run, be new or be gone, and which completed
blocks' code changed since. Neither runs a script or writes to the database; `check`
(and `psflow show`) need no database, so what only the dry run uses is imported when it runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psflow import keys
from psflow.domain import JobStatus
from psflow.errors import DeploymentKeyError, UntrustedError
from psflow.loading import read_source
from psflow.transform import ScriptCheck, TransformError

if TYPE_CHECKING:
    from psflow.store import BlockRecord, BlockRun, JobView, Store
    from psflow.transform.sites import BlockSite, ScriptReport

EXIT_CLEAN, EXIT_WARNINGS, EXIT_ERRORS = 0, 1, 2
DYNAMIC = "dynamic: decided at run time"


# ---- psflow check ---------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult(ScriptCheck):
    """A script's blocks and every error and warning about them, by line, and which file."""

    file: str = ""

    def exit_code(self, strict: bool = False) -> int:
        """2 with errors; 1 with warnings only under `strict`; else 0."""
        if self.errors:
            return EXIT_ERRORS
        return EXIT_WARNINGS if strict and self.warnings else EXIT_CLEAN

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "blocks": [
                {
                    "name": site.name,
                    "dynamic": site.dynamic,
                    "line": site.line,
                    "binds": list(site.binds),
                    "reads": list(site.reads),
                    "fingerprint": site.fingerprint,
                }
                for site in self.sites
            ],
            "functions": [
                {"name": function.name, "function": function.function, "line": function.line}
                for function in self.functions
            ],
            "diagnostics": [
                {"severity": d.severity, "line": d.line, "column": d.column, "message": d.message, "fix": d.fix or None}
                for d in self.diagnostics
            ],
        }


def check(script: str | Path) -> CheckResult:
    """`psflow check SCRIPT`: compile it (nothing runs) and report what was found."""
    from psflow.transform import check_script

    path = Path(script).resolve()
    _, source = read_source(path)
    found = check_script(source, str(path))
    return CheckResult(found.sites, found.diagnostics, found.functions, file=str(path))


def transformed_source(script: str | Path, *, diff: bool = False) -> str:
    """`psflow show`: the source psflow runs for `script`, or a unified diff against the original."""
    from psflow.transform import compile_script

    path = Path(script).resolve()
    _, source = read_source(path)
    text = compile_script(source, str(path)).text
    if not diff:
        return text
    import difflib

    return "".join(
        difflib.unified_diff(
            source.splitlines(keepends=True), text.splitlines(keepends=True), str(script), f"{script} (as run)"
        )
    )


# ---- psflow resume --dry-run ----------------------------------------------------------


@dataclass(frozen=True)
class BlockPlan:
    """What the next attempt would do with one block."""

    action: str  # "replay", "run", "new", "dynamic" or "gone"
    name: str  # for a dynamic name, the expression
    line: int | None  # None for a block that is gone from the script
    detail: str
    changed: bool = False  # completed with code that has changed since


@dataclass(frozen=True)
class JobPlan:
    """One job `psflow resume` would take (or skip), and what its next attempt would do."""

    job_id: str
    script: str
    status: str
    attempt: int  # the number the next attempt would have
    blocks: tuple[BlockPlan, ...] = ()
    note: str | None = None
    skipped: str | None = None  # why resume would not run it
    error: str | None = None  # the script does not compile now: resume would not run it


def plan_resume(
    store: Store,
    *,
    statuses: Iterable[str] = (JobStatus.WAITING,),
    job_ids: Iterable[str] = (),
    limit: int | None = None,
    latest: bool = False,
    rerun_changed: bool = False,
    queues: Iterable[str] = (),
) -> list[JobPlan]:
    """What `psflow resume` with these options would do, job by job; nothing runs, nothing is written.
    A job of a queue at its limit now (psflow.service.queues) would be skipped."""
    from psflow.service.queues import full_note, full_queues

    named = [store.find_job(job_id) for job_id in job_ids]
    candidates = named or store.list_jobs(list(statuses), order="oldest")
    if queues and not named:
        candidates = [job for job in candidates if job.queue in set(queues)]
    full = full_queues(store) if candidates else {}
    plans: list[JobPlan] = []
    for job in candidates:
        if limit is not None and len(plans) >= limit:
            break
        plan = _plan_job(store, job, latest=latest, rerun_changed=rerun_changed)
        if job.queue in full and not (plan.skipped or plan.error) and job.status != JobStatus.RUNNING:
            plan = replace(plan, skipped=f"skipped: {full_note(job.queue, *full[job.queue])}", blocks=(), note=None)
        plans.append(plan)
    return plans


def _plan_job(store: Store, job: JobView, *, latest: bool, rerun_changed: bool) -> JobPlan:
    """The decisions resume would make (psflow.service.running, .sources), made without running."""
    from psflow.service.results import skip_reason
    from psflow.service.sources import resolve_source

    plan = JobPlan(job.id, job.script, job.status, job.attempts + 1)
    skipped = skip_reason(job, store.clock.now())
    if skipped is not None:
        return replace(plan, skipped=skipped)
    try:
        source = resolve_source(store, job, latest=latest)
    except TransformError as error:
        first = error.diagnostics[0].format().splitlines()[0] if error.diagnostics else str(error)
        return replace(plan, error=first)
    except (UntrustedError, DeploymentKeyError) as error:  # resume would refuse it: nothing to plan
        return replace(plan, error=str(error))
    blocks = _plan_blocks(store, job.id, source.loaded.report, rerun_changed=rerun_changed)
    return replace(plan, blocks=tuple(blocks), note=source.note(job, planned=True))


def _plan_blocks(store: Store, job_id: str, report: ScriptReport, *, rerun_changed: bool) -> list[BlockPlan]:
    completed = store.completed_blocks(job_id)
    last_run = {run.name: run for run in store.block_runs(job_id)}
    plans: list[BlockPlan] = []
    replaying: list[tuple[BlockSite, BlockPlan]] = []  # enclosing blocks that would replay
    for site in report.sites:
        replaying = [(outer, plan) for outer, plan in replaying if site.line <= outer.end_line]
        if replaying:
            outer = replaying[0][0]
            plans.append(BlockPlan("replay", site.name, site.line, f"inside block {outer.label()}, which replays"))
            continue
        plan = _plan_site(site, completed, last_run, rerun_changed)
        plans.append(plan)
        if plan.action == "replay":
            replaying.append((site, plan))
    patterns = [_pattern(site.name) for site in report.sites if site.dynamic]
    if None in patterns or None in report.callables:
        return plans  # a name computed at run time could be anything: nothing is surely gone
    literal = {site.name for site in report.sites}
    for name, record in completed.items():
        if name in literal or keys.is_marker(name) or any(keys.is_call_of(name, c) for c in report.callables if c):
            continue
        if any(pattern.fullmatch(name) for pattern in patterns if pattern is not None):
            continue  # `f"deploy-{host}"` may make it again
        detail = f"completed in attempt {record.attempt}; no longer in the script"
        plans.append(BlockPlan("gone", name, None, detail))
    return plans


def _pattern(expression: str) -> re.Pattern[str] | None:
    """The names an f-string block name can make (`f"deploy-{host}"`: deploy-.*); None for any other
    expression, which could make any name."""
    import ast

    try:
        tree = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.JoinedStr):
        return None
    parts = [
        re.escape(part.value) if isinstance(part, ast.Constant) and isinstance(part.value, str) else ".*"
        for part in tree.values
    ]
    return re.compile("".join(parts), re.DOTALL)


def _plan_site(
    site: BlockSite, completed: dict[str, BlockRecord], last_run: dict[str, BlockRun], rerun_changed: bool
) -> BlockPlan:
    if site.dynamic:
        pattern = _pattern(site.name)
        matches = [name for name in completed if pattern is not None and pattern.fullmatch(name)]
        if not matches:
            return BlockPlan("dynamic", site.name, site.line, DYNAMIC)
        shown = ", ".join(matches[:3]) + (", …" if len(matches) > 3 else "")
        detail = f"{DYNAMIC} ({len(matches)} completed block(s) it may make again replay: {shown})"
        return BlockPlan("dynamic", site.name, site.line, detail)
    record = completed.get(site.name)
    if record is not None:
        changed = record.fingerprint is not None and record.fingerprint != site.fingerprint
        done = f"completed in attempt {record.attempt}"
        if not changed:
            return BlockPlan("replay", site.name, site.line, done)
        if rerun_changed:
            return BlockPlan("run", site.name, site.line, f"{done}; its code changed since: runs again", changed=True)
        detail = f"{done}; its code changed since: replays with a warning (--rerun-changed runs it again)"
        return BlockPlan("replay", site.name, site.line, detail, changed=True)
    row = last_run.get(site.name)
    if row is not None:
        return BlockPlan("run", site.name, site.line, f"{row.status} in attempt {row.attempt}")
    return BlockPlan("new", site.name, site.line, "never ran in this job")
