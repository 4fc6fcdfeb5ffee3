"""Commands that look without running anything: show, check, jobs, job, logs."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from psflow.cli.app import DbOption, JsonOption, app, bulk_reading, connect, fail
from psflow.cli.messages import say
from psflow.cli.render import (
    echo,
    print_job,
    print_jobs,
    print_json,
    print_json_array,
    print_source,
    print_status,
    shown,
    tty,
)
from psflow.errors import EditedRow

JOBS_PAGE = 50  # the newest jobs `psflow jobs` shows on a terminal without --limit or --all
BLOCKS_PAGE = 50  # the last rows of each table `psflow job` shows on a terminal without --all


@app.command()
def show(
    script: Path = typer.Argument(..., help="The script to show as psflow runs it."),
    diff: bool = typer.Option(False, "--diff", help="Show a unified diff against the original instead."),
) -> None:
    """Print the rewritten source that psflow actually runs."""
    from psflow.service import preflight

    print_source(preflight.transformed_source(script, diff=diff), diff=diff)


@app.command()
def check(
    script: Path = typer.Argument(..., help="The script to check."),
    as_json: bool = JsonOption,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings (and no errors)."),
) -> None:
    """List SCRIPT's blocks and what would go wrong with them; nothing runs.

    Exit 0 when clean (or warnings only), 1 for warnings with --strict, 2 for errors.
    """
    from psflow.cli.preview import print_check
    from psflow.service import preflight

    result = preflight.check(script)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_check(result)
    raise typer.Exit(result.exit_code(strict))


@app.command("jobs")
def jobs_(
    status: list[str] | None = typer.Option(None, "--status", "-s", help="Only jobs in this status (repeatable)."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="At most N jobs."),
    all_: bool = typer.Option(False, "--all", help=f"Every job (a terminal shows the newest {JOBS_PAGE})."),
    as_json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """List jobs, most recently updated first (on a terminal, a page of the newest)."""
    from psflow.service import history

    if all_ and limit is not None:
        fail("--all and --limit cannot be combined")
    paged = limit is None and not all_ and not as_json and tty()
    page = JOBS_PAGE if paged else limit
    with connect(db, create=False) as store:  # only reads: never creates a database
        rows = history.jobs(store, statuses=status or [], limit=page, edited=_not_listed)
        more = history.job_count(store, statuses=status or []) - len(rows) if paged and len(rows) == page else 0
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print_jobs(rows)
    if more:
        echo(f"… {more:,} more: --limit N or --all lists them")


def _not_listed(error: EditedRow) -> None:
    say(f"warning: {error}: not listed", error=True)


@app.command("status")
def status_(as_json: bool = JsonOption, db: str | None = DbOption) -> None:
    """How things stand: jobs per status, waiting for input, timers due within the hour, leases that
    lapsed, and failures of the last 24 hours."""
    from psflow.service import history

    with connect(db, create=False) as store:
        report = history.status(store)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print_status(report)


@app.command("job")
def job_(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    all_: bool = typer.Option(
        False, "--all", help=f"Every block (a terminal shows the last {BLOCKS_PAGE} of each table)."
    ),
    as_json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Show one job: its status and blocks, then per attempt what ran and what was replayed."""
    from psflow.cli.transcript import print_attempts
    from psflow.service import history

    with bulk_reading():
        with connect(db, create=False) as store:
            detail = history.job_detail(store, job_id)
        if as_json:
            print_json(detail)
            return
        page = BLOCKS_PAGE if not all_ and tty() else None
        print_job(detail, page=page)
        print_attempts(detail, page=page)


@app.command()
def logs(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    block: str | None = typer.Argument(None, metavar="BLOCK", help="Only the runs of this block."),
    attempt: int | None = typer.Option(None, "--attempt", "-a", min=1, help="Only the runs of attempt N."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing block runs as they are recorded, until the job is not Running."
    ),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="Print the captured output exactly as stored (colour codes too); default: control characters escaped.",
    ),
    as_json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Print the output each block run captured, across attempts in the order recorded: one transcript."""
    from functools import partial

    from psflow.cli.transcript import print_run
    from psflow.service import transcripts

    if follow and as_json:
        fail("--json and --follow cannot be combined")
    print_one = partial(print_run, raw=raw)
    with connect(db, create=False) as store:
        if follow:
            try:
                ended = transcripts.follow(store, job_id, print_one, block=block, attempt=attempt)
            except KeyboardInterrupt:
                raise typer.Exit(130) from None
            if ended is None:
                say(f"job {job_id} was deleted")
            else:
                reason = f" ({shown(ended['reason'])})" if ended["reason"] else ""  # one line
                say(f"job {ended['id']} is {ended['status']}{reason}")
            return
        job, runs = transcripts.stream_transcript(store, job_id, block=block, attempt=attempt)
        if as_json:
            print_json_array(runs)
            return
        printed = False
        for run in runs:  # each printed as it is read
            print_one(run)
            printed = True
    if not printed:
        say(f"job {job['id']} has no block runs" + (" in that attempt" if attempt is not None else " yet"))
