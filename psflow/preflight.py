"""Looking before running: `psflow check` and `psflow resume --dry-run`.

`check` lists a script's blocks and what would go wrong with them (the rules are
in psflow.transform.check). `plan_resume` says, per job `psflow resume` would
take, which blocks would replay, run, be new or be gone, and which completed
blocks' code changed since. Neither runs a script or writes to the database.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from psflow.api import UsageError, connect
from psflow.loader import ScriptError, read_source
from psflow.store import JobStore
from psflow.store.models import Job
from psflow.transform import ScriptCheck
from psflow.transform.sites import BlockSite, ScriptReport

EXIT_CLEAN, EXIT_WARNINGS, EXIT_ERRORS = 0, 1, 2
DYNAMIC = "dynamic: decided at run time"
# Records that are not `with block` sites: wait_for inputs and durable timers (see psflow.runtime).
_MARKER = re.compile(r"wait_for:.*|(?:.*/)?sleep(?:#\d+)?", re.DOTALL)


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

    def to_json(self) -> dict:
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
            "diagnostics": [
                {"severity": d.severity, "line": d.line, "column": d.column, "message": d.message, "fix": d.fix or None}
                for d in self.diagnostics
            ],
        }


def check(script: str | Path) -> CheckResult:
    """`psflow check SCRIPT`: compile it (nothing runs) and report what was found."""
    from psflow.transform import check_script

    path = Path(script).resolve()
    try:
        _, source = read_source(path)
    except ScriptError as error:
        raise UsageError(str(error)) from None
    found = check_script(source, str(path))
    return CheckResult(found.sites, found.diagnostics, file=str(path))


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
    *,
    statuses: Iterable[str] = ("Waiting",),
    job_ids: Iterable[str] = (),
    limit: int | None = None,
    db: str | None = None,
    latest: bool = False,
    rerun_changed: bool = False,
) -> list[JobPlan]:
    """What `psflow resume` with these options would do, job by job; nothing runs, nothing is written."""
    store = connect(db)
    named = [store.find_job(job_id) for job_id in job_ids]
    candidates = named or store.list_jobs(list(statuses), order="oldest")
    plans: list[JobPlan] = []
    for job in candidates:
        if limit is not None and len(plans) >= limit:
            break
        plans.append(_plan_job(store, job, latest=latest, rerun_changed=rerun_changed))
    return plans


def _plan_job(store: JobStore, job: Job, *, latest: bool, rerun_changed: bool) -> JobPlan:
    from psflow import api  # its private helpers: the dry run decides exactly as resume does

    plan = JobPlan(job.id, job.script, job.status, job.attempts + 1)
    skipped = api._skip_reason(job)
    if skipped is None and job.status == "Running" and (job.lease_until or 0) >= time.time():
        skipped = api._taken_note(job)
    if skipped is not None:
        return _replace(plan, skipped=skipped)
    loaded, note, error = _load(store, job, latest=latest)
    if loaded is None:
        return _replace(plan, error=error)
    blocks = _plan_blocks(store, job.id, loaded.report, rerun_changed=rerun_changed)
    return _replace(plan, blocks=tuple(blocks), note=note)


def _load(store: JobStore, job: Job, *, latest: bool):
    """(the script as resume would load it, a note, None) or (None, None, why it cannot)."""
    from psflow import api
    from psflow.loader import load_script, load_source
    from psflow.transform import TransformError

    try:
        if job.workflow is not None:
            newest = store.workflow(job.workflow)
            version, source, note = job.workflow_version, job.source, None
            if latest and newest is not None and newest.version != job.workflow_version:
                version, source = newest.version, newest.source
                note = f"would move from workflow {job.workflow} v{job.workflow_version} to v{newest.version} (--latest)"
            return load_source(api.workflow_label(job.workflow, version), source), note, None
        try:
            loaded = api._load(Path(job.script))
            return loaded, api._changed_note(job, loaded), None
        except (ScriptError, UsageError):
            note = "script file not found here: would run the source stored with the job"
            return load_script(Path(job.script), job.source), note, None
    except TransformError as error:
        first = error.diagnostics[0].format().splitlines()[0] if error.diagnostics else str(error)
        return None, None, first


def _plan_blocks(store: JobStore, job_id: str, report: ScriptReport, *, rerun_changed: bool) -> list[BlockPlan]:
    completed = store.completed_blocks(job_id)
    last_run = {row.name: row for row in store.blocks(job_id)}
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
        if name in literal or _MARKER.fullmatch(name) or _called(name, report.callables):
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


def _plan_site(site: BlockSite, completed: dict, last_run: dict, rerun_changed: bool) -> BlockPlan:
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


def _called(name: str, callables: tuple[str | None, ...]) -> bool:
    """Is `name` a call of an `@block(NAME)` function (`NAME`, `NAME#2`, …)?"""
    base = re.sub(r"#\d+$", "", name)
    return base in callables


def _replace(plan: JobPlan, **changes) -> JobPlan:
    from dataclasses import replace

    return replace(plan, **changes)
