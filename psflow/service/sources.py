"""Which source a job runs, decided once for `resume` and `resume --dry-run` alike.

A job of a registered workflow runs the version it started with (or, with
`latest`, the workflow's newest) from the database. Any other job runs its
script file where the file exists here, else the snapshot stored with the job.
Nothing is chosen before the job's signature is checked (psflow.service.trust).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from psflow.errors import ScriptError
from psflow.loading import LoadedScript, load_script, load_source
from psflow.service.trust import verified_job, verified_workflow
from psflow.store import JobView, Store

CHANGED = "changed"  # the script file changed since the last attempt
SNAPSHOT = "snapshot"  # no file here: the source stored with the job
MOVED = "moved"  # --latest moved the job to the workflow's newest version
BEHIND = "behind"  # a newer version of the job's workflow exists


@dataclass(frozen=True)
class Source:
    """The code a job's next attempt runs, and how it came to be chosen."""

    loaded: LoadedScript
    version: int | None = None  # of the job's registered workflow
    newest: int | None = None  # the workflow's newest version
    why: str | None = None  # CHANGED, SNAPSHOT, MOVED, BEHIND or None

    def note(self, job: JobView, *, planned: bool = False) -> str | None:
        """What the user is told about it; `planned`: said of a dry run, in the conditional."""
        if self.why == CHANGED:
            return "the script changed since the last attempt; blocks are matched by name"
        if self.why == SNAPSHOT:
            return f"script file not found here: {'would run' if planned else 'ran'} the source stored with the job"
        if self.why == MOVED:
            verb = "would move" if planned else "moved"
            return f"{verb} from workflow {job.workflow} v{job.workflow_version} to v{self.version} (--latest)"
        if self.why == BEHIND and not planned:
            return f"ran workflow {job.workflow} v{job.workflow_version}{newer_note(self.newest, job)}"
        return None


def workflow_label(name: str, version: int | None) -> str:
    """The file name a registered workflow's code runs under (tracebacks, `jobs`, sys.argv[0])."""
    return f"<workflow {name} v{version}>"


def newer_note(newest: int | None, job: JobView) -> str:
    if newest is None or newest == job.workflow_version:
        return ""
    return f"; v{newest} is the newest (`psflow resume --latest` moves it there)"


def resolve_source(store: Store, job: JobView, *, latest: bool, snapshot: str | None = None) -> Source:
    """The source `job` runs next, once the job's signature (and the newer workflow version's,
    with `latest`) holds: UntrustedError if not; TransformError if that source does not compile here.
    `snapshot`: the job's stored source as read with it (else read now)."""
    snapshot = verified_job(store, job, snapshot=snapshot)
    if job.workflow is not None:
        newest = store.workflow(job.workflow)
        newest_version = newest.version if newest is not None else None
        if latest and newest is not None and newest.version != job.workflow_version:
            loaded = load_source(workflow_label(job.workflow, newest.version), verified_workflow(newest))
            return Source(loaded, newest.version, newest_version, MOVED)
        loaded = load_source(workflow_label(job.workflow, job.workflow_version), snapshot)
        behind = newest_version is not None and newest_version != job.workflow_version
        return Source(loaded, job.workflow_version, newest_version, BEHIND if behind else None)
    try:
        loaded = load_script(Path(job.script))
    except ScriptError:  # the file is gone (or moved) here: the snapshot the job was started with
        return Source(load_script(Path(job.script), snapshot), why=SNAPSHOT)
    return Source(loaded, why=CHANGED if loaded.sha256 != job.source_sha256 else None)
