"""Commands that change what happens next to a job: rerun, cancel, retry, rm, prune."""

from __future__ import annotations

import typer

from psflow.cli.app import DbOption, app, bulk_reading, connect
from psflow.cli.messages import JobProgress, say
from psflow.cli.render import print_jobs
from psflow.domain import FINAL_STATUSES


@app.command()
def rerun(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    from_: str | None = typer.Option(
        None, "--from", metavar="BLOCK", help="Run BLOCK and every block completed after it again."
    ),
    only: list[str] | None = typer.Option(
        None, "--only", metavar="BLOCK", help="Run just this block again (repeatable)."
    ),
    db: str | None = DbOption,
) -> None:
    """Make the job's next attempt run blocks again; their earlier runs stay in the history (as Rerun)."""
    from psflow.service import control

    with bulk_reading(), connect(db) as store:
        result = control.rerun(store, job_id, from_block=from_, only=only or [])
    say(f"job {result.job_id}: {len(result.marked):,} block(s) will run again: {_some(result.marked)}")
    if result.enclosing:
        say(f"job {result.job_id}: {', '.join(result.enclosing)} too: a chosen block runs inside it")
    if result.status != result.status_before:
        say(
            f"job {result.job_id} was {result.status_before}, now {result.status}: "
            f"`psflow resume --job {result.job_id}` (or the next `psflow resume`) runs them"
        )
    else:
        say(
            f"job {result.job_id} is {result.status}: "
            f"its next attempt (`psflow resume --job {result.job_id}`) runs them"
        )


def _some(names: list[str], shown: int = 10) -> str:
    """The names, or the first `shown` of them and how many more: a rerun can mark 100,000 blocks."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} … and {len(names) - shown:,} more"


@app.command()
def cancel(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    reason: str | None = typer.Option(None, "--reason", help="Why (shown by `psflow job`)."),
    keep_children: bool = typer.Option(
        False, "--keep-children", help="Leave the child jobs it started running (they are cancelled with it otherwise)."
    ),
    db: str | None = DbOption,
) -> None:
    """Cancel a job: final, it never runs again. A Running job only once its lease ran out (its runner is gone).
    Its child jobs (start()) that have not ended are cancelled with it, unless --keep-children."""
    from psflow.service import control

    with connect(db) as store:
        change = control.cancel(store, job_id, reason=reason, keep_children=keep_children)
    say(f"job {change.job_id}: Cancelled (was {change.status_before}): {change.reason}")
    if change.children:
        shown = ", ".join(change.children[:5]) + (", …" if len(change.children) > 5 else "")
        say(f"  and {len(change.children)} of its child jobs that had not ended: {shown}")


@app.command()
def retry(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    db: str | None = DbOption,
) -> None:
    """Put a Failed job back to Waiting, for the next `psflow resume` (completed blocks stay replayed)."""
    from psflow.service import control

    with connect(db) as store:
        change = control.retry(store, job_id)
    say(
        f"job {change.job_id}: Waiting (was Failed): `psflow resume --job {change.job_id}` "
        "(or the next `psflow resume`) runs it; its completed blocks are replayed"
    )


@app.command("rm")
def rm(
    job_ids: list[str] = typer.Argument(..., metavar="ID...", help="Job ids or unique prefixes."),
    force: bool = typer.Option(
        False, "--force", help="Delete a Running job even while its lease holds (its runner's next write fails)."
    ),
    db: str | None = DbOption,
) -> None:
    """Delete jobs with their attempts, block runs and inputs (all or none)."""
    from psflow.service import control

    with connect(db) as store:
        removal = control.remove(store, job_ids, force=force)
    for job in removal.jobs:
        say(f"deleted job {job['id']} ({job['status']})")
    say(_counts(removal.counts))


@app.command()
def prune(
    older_than: str = typer.Option(
        ..., "--older-than", metavar="AGE", help="Only jobs last updated more than AGE ago: 30d, 12h, 45m, 90s, 2w."
    ),
    status: list[str] | None = typer.Option(
        None, "--status", "-s", help="Only jobs in this status (repeatable; default: Completed and Cancelled)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be deleted; delete nothing."),
    db: str | None = DbOption,
) -> None:
    """Delete old jobs with their history, so the database does not grow without bound."""
    from psflow.service import control

    with connect(db, create=not dry_run) as store, JobProgress("deleting old jobs") as bar:
        removal = control.prune(
            store,
            older_than=older_than,
            statuses=status or [],
            dry_run=dry_run,
            progress=lambda step: bar.reach(step.deleted, step.total),
        )
    which = f"{' or '.join(status or FINAL_STATUSES)}, last updated more than {older_than} ago"
    if dry_run:
        if removal.jobs:
            print_jobs(removal.jobs)
        say(f"would delete {len(removal.jobs)} job(s) ({which}); nothing was deleted (--dry-run)")
        return
    say(f"deleted {len(removal.jobs)} job(s) ({which}); {_counts(removal.counts)}")


def _counts(counts: dict[str, int]) -> str:
    return (
        f"rows deleted: {counts.get('jobs', 0)} job(s), {counts.get('attempts', 0)} attempt(s), "
        f"{counts.get('blocks', 0)} block run(s), {counts.get('inputs', 0)} input(s)"
    )
