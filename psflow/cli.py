"""The `psflow` command: parse, call psflow.api, print.

Exit codes: 0 completed · 1 the script failed · 2 bad input or usage ·
3 stopped with a status (Waiting or another word given to stop()).
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from psflow import api
from psflow import operations
from psflow.output import (
    JobProgress,
    print_job,
    print_jobs,
    print_source,
    print_workflow_versions,
    print_workflows,
    say,
)
from psflow.transcript import print_attempts

app = typer.Typer(
    name="psflow",
    help="Make a plain Python script resumable: blocks run once per job, their results live in a database.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

DbOption = typer.Option(
    None, "--db", help="Database URL or SQLite path (default: $PSFLOW_DB, then the config file, then the user data folder)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts and tools.")
ReplayOutputOption = typer.Option(
    False, "--replay-output", help="Print a replayed block's recorded output again, as if it had run."
)
RerunChangedOption = typer.Option(
    False, "--rerun-changed",
    help="Run a completed block again if its code changed since it completed (default: replay it, with a warning).",
)


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(
    script: str = typer.Argument(
        ..., help="The Python script to run as a job, or the name of a registered workflow (when no such file exists)."
    ),
    args: Optional[List[str]] = typer.Argument(None, help="Arguments for the script (its sys.argv[1:])."),
    job: Optional[str] = typer.Option(None, "--job", help="Job id: continue it if it exists, create it if not."),
    replay_output: bool = ReplayOutputOption,
    rerun_changed: bool = RerunChangedOption,
    db: Optional[str] = DbOption,
) -> None:
    """Run SCRIPT as a new job (or continue job --job ID). SCRIPT may name a registered workflow.

    The script is checked first (see `psflow check`): errors stop it, warnings are printed.
    """
    result = _guarded(
        lambda: api.run(
            script, args or [], job_id=job, db=db, announce=say, replay_output=replay_output,
            rerun_changed=rerun_changed,
        )
    )
    _report(result)
    raise typer.Exit(result.exit_code)


@app.command()
def resume(
    status: Optional[List[str]] = typer.Option(None, "--status", "-s", help="Resume jobs in this status (default Waiting; repeatable)."),
    job: Optional[List[str]] = typer.Option(None, "--job", "-j", help="Resume this job (id or unique prefix; repeatable)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Resume at most N jobs."),
    parallel: Optional[int] = typer.Option(
        None, "--parallel", "-p", min=1, help="Run the jobs in N worker processes (many jobs each)."
    ),
    latest: bool = typer.Option(
        False, "--latest", help="Move jobs of registered workflows to the workflow's newest version first."
    ),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", metavar="NAME=VALUE", help="Send this input to the --job jobs first (see `psflow send`; repeatable)."
    ),
    replay_output: bool = ReplayOutputOption,
    rerun_changed: bool = RerunChangedOption,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say, per job, which blocks would replay, run, be new or be gone; run and write nothing."
    ),
    db: Optional[str] = DbOption,
) -> None:
    """Run every job in a status again (default: Waiting). Exit 1 if any job failed or could not run."""
    if dry_run:
        _dry_run(status, job, limit, latest, set_, rerun_changed, db)
    if set_:
        if not job:
            say("error: --set needs --job JOB: say which job the input is for", error=True)
            raise typer.Exit(2)
        _send(job, _guarded(lambda: api.parse_inputs(set_)), db)
    statuses = status or ["Waiting"]
    with JobProgress("resuming") as progress:
        if parallel is not None and not job:
            progress.expect(None)  # the worker processes find the jobs: no total known here
        results = _guarded(
            lambda: api.resume(
                statuses=statuses, job_ids=job or [], limit=limit, db=db, on_result=_counted(progress),
                parallel=parallel, latest=latest, on_total=progress.expect, replay_output=replay_output,
                rerun_changed=rerun_changed,
            )
        )
    _summarize(results, f"resumed {len(results)} job(s) in {', '.join(statuses) if not job else 'the named jobs'}")


def _dry_run(
    status: Optional[List[str]], job: Optional[List[str]], limit: Optional[int], latest: bool,
    set_: Optional[List[str]], rerun_changed: bool, db: Optional[str],
) -> None:
    """`resume --dry-run`: print each job's plan; exit 1 if a job's script does not compile now."""
    from psflow import preflight
    from psflow.preview import print_plan

    if set_:
        say("error: --dry-run writes nothing, so it cannot --set inputs: send them with `psflow send`", error=True)
        raise typer.Exit(2)
    statuses = status or ["Waiting"]
    plans = _guarded(
        lambda: preflight.plan_resume(
            statuses=statuses, job_ids=job or [], limit=limit, db=db, latest=latest, rerun_changed=rerun_changed
        )
    )
    for plan in plans:
        print_plan(plan)
    taken = [plan for plan in plans if not plan.skipped and not plan.error]
    skipped = sum(1 for plan in plans if plan.skipped)
    failing = sum(1 for plan in plans if plan.error)
    say(
        f"dry run: {len(taken)} job(s) would be resumed, {skipped} skipped, {failing} could not run; "
        "nothing ran and nothing was written"
    )
    raise typer.Exit(1 if failing else 0)


@app.command()
def worker(
    status: Optional[List[str]] = typer.Option(None, "--status", "-s", help="Take jobs in this status (default Waiting; repeatable)."),
    poll: float = typer.Option(5.0, "--poll", min=0.05, help="Seconds between looks for due jobs."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Worker processes."),
    once: bool = typer.Option(False, "--once", help="Take the jobs due now, then exit."),
    db: Optional[str] = DbOption,
) -> None:
    """Keep claiming and running due jobs on this server until SIGTERM or Ctrl-C.

    On SIGTERM/SIGINT no new job is claimed; a running job stops before its next
    block and goes back to the status it had, for another worker to take.
    """
    import signal
    import threading

    from psflow.workers import run_pool

    shutdown = threading.Event()

    def stop(signum, frame) -> None:
        say("shutting down: finishing the running blocks, handing their jobs back")
        shutdown.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    statuses = status or ["Waiting"]
    say(f"worker: {concurrency} process(es) taking {', '.join(statuses)} jobs" + ("" if once else f", every {poll:g}s"))
    with JobProgress("worker") as progress:
        progress.expect(None)
        results = _guarded(
            lambda: run_pool(
                db=db, statuses=statuses, processes=concurrency, forever=not once, poll=poll,
                on_result=_counted(progress), shutdown=shutdown,
            )
        )
    _summarize(results, f"worker ran {len(results)} job(s)")


@app.command()
def send(
    job: str = typer.Argument(..., metavar="JOB", help="Job id or unique prefix."),
    values: Optional[List[str]] = typer.Argument(
        None, metavar="NAME=VALUE...", help="Inputs; a VALUE that parses as JSON is that value (3, true, \"3\"), else text."
    ),
    json_text: Optional[str] = typer.Option(None, "--json", metavar="OBJECT", help='Inputs as a JSON object: \'{"approval": "yes"}\'.'),
    resume_now: bool = typer.Option(False, "--resume", help="Run the job now (like `psflow resume --job JOB`)."),
    db: Optional[str] = DbOption,
) -> None:
    """Send input to a job for its `wait_for(NAME)`; it runs at the next `psflow resume` (or worker)."""
    inputs = _guarded(lambda: api.parse_inputs(values or [], json_text))
    _send([job], inputs, db, later=not resume_now)
    if resume_now:
        results = _guarded(lambda: api.resume(job_ids=[job], statuses=[], db=db, on_result=_report))
        _summarize(results, f"resumed {len(results)} job(s)")


def _send(job_ids: list[str], inputs: dict, db: Optional[str], *, later: bool = False) -> None:
    """Store `inputs` for the jobs and say so (exit 2, nothing stored, if any job cannot take them)."""
    for sent in _guarded(lambda: api.send(job_ids, inputs, db=db)):
        names = ", ".join(sent.names)
        tail = "; it runs at the next `psflow resume` (or worker), or now with --resume" if later else ""
        say(f"job {sent.job_id}: received {names}{tail}")
        for name, attempt in sent.already_read.items():
            say(f"job {sent.job_id}: note: it already read {name} in attempt {attempt}; wait_for keeps that value")


def _summarize(results: list[api.RunResult], headline: str) -> None:
    """The summary line after many jobs; exit 1 if any failed or could not run."""
    counts: dict[str, int] = {}
    for result in results:
        key = "not run" if result.error else "skipped" if result.skipped else result.status
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "nothing to do"
    say(f"{headline}: {summary}")
    failed = any(result.error or (result.status == "Failed" and not result.skipped) for result in results)
    raise typer.Exit(1 if failed else 0)


@app.command()
def show(
    script: Path = typer.Argument(..., help="The script to show as psflow runs it."),
    diff: bool = typer.Option(False, "--diff", help="Show a unified diff against the original instead."),
) -> None:
    """Print the rewritten source that psflow actually runs."""
    text = _guarded(lambda: api.transformed_source(script, diff=diff))
    print_source(text, diff=diff)


@app.command()
def check(
    script: Path = typer.Argument(..., help="The script to check."),
    as_json: bool = JsonOption,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings (and no errors)."),
) -> None:
    """List SCRIPT's blocks and what would go wrong with them; nothing runs.

    Exit 0 when clean (or warnings only), 1 for warnings with --strict, 2 for errors.
    """
    from psflow import preflight
    from psflow.preview import print_check

    result = _guarded(lambda: preflight.check(script))
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_check(result)
    raise typer.Exit(result.exit_code(strict))


@app.command("jobs")
def jobs_(
    status: Optional[List[str]] = typer.Option(None, "--status", "-s", help="Only jobs in this status (repeatable)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="At most N jobs."),
    as_json: bool = JsonOption,
    db: Optional[str] = DbOption,
) -> None:
    """List jobs, most recently updated first."""
    rows = _guarded(lambda: api.jobs(statuses=status or [], limit=limit, db=db))
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print_jobs(rows)


@app.command("job")
def job_(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    as_json: bool = JsonOption,
    db: Optional[str] = DbOption,
) -> None:
    """Show one job: its status and blocks, then per attempt what ran and what was replayed."""
    detail = _guarded(lambda: operations.job_history(job_id, db=db))
    if as_json:
        print(json.dumps(detail, indent=2))
    else:
        print_job(detail)
        print_attempts(detail)


# ---- seeing what happened, changing what happens (psflow.operations) --------------


@app.command()
def logs(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    block: Optional[str] = typer.Argument(None, metavar="BLOCK", help="Only the runs of this block."),
    attempt: Optional[int] = typer.Option(None, "--attempt", "-a", min=1, help="Only the runs of attempt N."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing block runs as they are recorded, until the job is not Running."
    ),
    as_json: bool = JsonOption,
    db: Optional[str] = DbOption,
) -> None:
    """Print the output each block run captured, across attempts in the order recorded: one transcript."""
    from psflow.transcript import print_run

    if follow:
        if as_json:
            say("error: --json and --follow cannot be combined", error=True)
            raise typer.Exit(2)
        try:
            ended = _guarded(lambda: operations.follow(job_id, print_run, block=block, attempt=attempt, db=db))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        if ended is None:
            say(f"job {job_id} was deleted")
        else:
            say(f"job {ended['id']} is {ended['status']}" + (f" ({ended['reason']})" if ended["reason"] else ""))
        return
    job, runs = _guarded(lambda: operations.transcript(job_id, block=block, attempt=attempt, db=db))
    if as_json:
        print(json.dumps(runs, indent=2))
        return
    if not runs:
        say(f"job {job['id']} has no block runs" + (" in that attempt" if attempt is not None else " yet"))
    for run in runs:
        print_run(run)


@app.command()
def rerun(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    from_: Optional[str] = typer.Option(
        None, "--from", metavar="BLOCK", help="Run BLOCK and every block completed after it again."
    ),
    only: Optional[List[str]] = typer.Option(
        None, "--only", metavar="BLOCK", help="Run just this block again (repeatable)."
    ),
    db: Optional[str] = DbOption,
) -> None:
    """Make the job's next attempt run blocks again; their earlier runs stay in the history (as Rerun)."""
    result = _guarded(lambda: operations.rerun(job_id, from_block=from_, only=only or [], db=db))
    names = ", ".join(result.marked)
    say(f"job {result.job_id}: {len(result.marked)} block(s) will run again: {names}")
    if result.enclosing:
        say(f"job {result.job_id}: {', '.join(result.enclosing)} too: a chosen block runs inside it")
    if result.status != result.status_before:
        say(
            f"job {result.job_id} was {result.status_before}, now {result.status}: "
            f"`psflow resume --job {result.job_id}` (or the next `psflow resume`) runs them"
        )
    elif result.status == "Running":
        say(f"job {result.job_id} is Running with a lapsed lease: `psflow resume --status Running` runs them")
    else:
        say(
            f"job {result.job_id} is {result.status}: its next attempt (`psflow resume --job {result.job_id}`) runs them"
        )


@app.command()
def cancel(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (shown by `psflow job`)."),
    db: Optional[str] = DbOption,
) -> None:
    """Cancel a job: final, it never runs again. A Running job only once its lease ran out (its runner is gone)."""
    change = _guarded(lambda: operations.cancel(job_id, reason=reason, db=db))
    say(f"job {change.job_id}: Cancelled (was {change.status_before}): {change.reason}")


@app.command()
def retry(
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    db: Optional[str] = DbOption,
) -> None:
    """Put a Failed job back to Waiting, for the next `psflow resume` (completed blocks stay replayed)."""
    change = _guarded(lambda: operations.retry(job_id, db=db))
    say(
        f"job {change.job_id}: Waiting (was Failed): `psflow resume --job {change.job_id}` "
        "(or the next `psflow resume`) runs it; its completed blocks are replayed"
    )


@app.command("rm")
def rm(
    job_ids: List[str] = typer.Argument(..., metavar="ID...", help="Job ids or unique prefixes."),
    force: bool = typer.Option(
        False, "--force", help="Delete a Running job even while its lease holds (its runner's next write fails)."
    ),
    db: Optional[str] = DbOption,
) -> None:
    """Delete jobs with their attempts, block runs and inputs (all or none)."""
    removal = _guarded(lambda: operations.remove(job_ids, force=force, db=db))
    for job in removal.jobs:
        say(f"deleted job {job['id']} ({job['status']})")
    say(_counts(removal.counts))


@app.command()
def prune(
    older_than: str = typer.Option(
        ..., "--older-than", metavar="AGE", help="Only jobs last updated more than AGE ago: 30d, 12h, 45m, 90s, 2w."
    ),
    status: Optional[List[str]] = typer.Option(
        None, "--status", "-s", help="Only jobs in this status (repeatable; default: Completed and Cancelled)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be deleted; delete nothing."),
    db: Optional[str] = DbOption,
) -> None:
    """Delete old jobs with their history, so the database does not grow without bound."""
    removal = _guarded(lambda: operations.prune(older_than=older_than, statuses=status or [], dry_run=dry_run, db=db))
    which = f"{' or '.join(status or ['Completed', 'Cancelled'])}, last updated more than {older_than} ago"
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


def _counted(progress: JobProgress):
    """on_result for many jobs: the job's line, and one more on the progress bar."""

    def on_result(result: api.RunResult) -> None:
        _report(result)
        progress.advance()

    return on_result


@app.command()
def register(
    name: str = typer.Argument(..., metavar="NAME", help="The workflow's name: letters, digits, '_', '.', '-'."),
    script: Path = typer.Argument(
        ..., metavar="SCRIPT", help="The script whose source becomes the workflow's next version."
    ),
    db: Optional[str] = DbOption,
) -> None:
    """Store SCRIPT's source in the database as the next version of workflow NAME.

    `psflow exec NAME` then runs the newest version on any server, no file needed.
    """
    registered = _guarded(lambda: api.register(name, script, db=db))
    if not registered.created:
        say(f"workflow {name} v{registered.version} already has this source: no new version")
        return
    again = f" (the same source as v{registered.same_as})" if registered.same_as else ""
    say(f"registered workflow {name} v{registered.version}{again}: `psflow exec {name}` runs it")


@app.command("workflows")
def workflows_(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Show every version of this workflow instead."),
    as_json: bool = JsonOption,
    db: Optional[str] = DbOption,
) -> None:
    """List registered workflows: newest version, how many versions, registered when, by whom, where."""
    if name is not None:
        rows = _guarded(lambda: api.workflow_versions(name, db=db))
        print(json.dumps(rows, indent=2)) if as_json else print_workflow_versions(rows)
        return
    rows = _guarded(lambda: api.workflows(db=db))
    print(json.dumps(rows, indent=2)) if as_json else print_workflows(rows)


class SettingsTarget(str, Enum):
    env = "env"
    file = "file"


@app.command()
def init(
    sqlite: Optional[str] = typer.Option(None, "--sqlite", metavar="PATH", help="A SQLite file (path, sqlite:/// URL or Data Source=…)."),
    postgres: Optional[str] = typer.Option(None, "--postgres", metavar="URL", help="PostgreSQL: postgresql://USER:PASSWORD@HOST:5432/DB (or Host=…;Database=…)."),
    mssql: Optional[str] = typer.Option(None, "--mssql", metavar="CONNSTR", help="MS SQL Server: Server=HOST,1433;Database=DB;User Id=…;Password=… (or mssql://…)."),
    connection_string: Optional[str] = typer.Option(None, "--connection-string", metavar="STR", help="Any of the above; psflow tells which."),
    settings: Optional[SettingsTarget] = typer.Option(None, "--settings", case_sensitive=False, help="Keep this database for later commands: 'file' saves it in the config file, 'env' prints the PSFLOW_DB line."),
    upgrade: bool = typer.Option(False, "--upgrade", help="Upgrade a database made by an older psflow (back it up first)."),
) -> None:
    """Create psflow's tables in a database (or upgrade them), and optionally keep it as the default."""
    result = _guarded(
        lambda: api.init(
            sqlite=sqlite, postgres=postgres, mssql=mssql, connection_string=connection_string,
            upgrade=upgrade, settings=settings.value if settings else None,
        )
    )
    if result.action == "created":
        say(f"created psflow schema {result.version} in {result.where}")
    elif result.action == "upgraded":
        say(f"upgraded {result.where} from psflow schema {result.found} to {result.version}")
    else:
        say(f"psflow schema {result.version} in {result.where} is already current")
    if result.ignored:
        say(f"ignored (no meaning for psflow): {', '.join(result.ignored)}")
    if result.config_file:
        say(f"saved in {result.config_file}: psflow commands here use it unless --db or PSFLOW_DB say otherwise")
    if result.env_lines:
        say("put PSFLOW_DB in the environment of every psflow command: the first line for sh, cron, systemd; "
            "the second for PowerShell ([Environment]::SetEnvironmentVariable('PSFLOW_DB', …, 'User') keeps it)")
        for line in result.env_lines:
            print(line)
    if not result.in_effect:
        say(
            "note: commands here use another database (`psflow config` says which and why): "
            + ("PSFLOW_DB comes before the config file" if result.config_file else "pass --db, or run init with --settings file|env")
        )


@app.command("config")
def config_(as_json: bool = JsonOption, db: Optional[str] = DbOption) -> None:
    """Show which database psflow uses and why: --db, then PSFLOW_DB, then the config file, then the default."""
    shown = _guarded(lambda: api.config(db))
    if as_json:
        print(json.dumps(shown, indent=2))
        return
    labels = {"flag": "--db", "env": "PSFLOW_DB", "file": "config file", "default": "default"}
    print(f"database  {shown['database']}")
    print(f"from      {labels[shown['source']]}" + (f" ({shown['where']})" if shown["source"] == "file" else ""))
    print(f"config    {shown['config_file']}" + ("" if shown["config_file_exists"] else " (none)"))
    print()
    for place in shown["settings"]:
        value = place["database"] or (f"unreadable: {place['error']}" if place["error"] else "-")
        mark = "  <- in effect" if place["in_effect"] else ""
        print(f"  {labels[place['source']]:<12} {value}{mark}")


def _guarded(call):
    """Run `call`; bad input becomes a one-line message and exit code 2, never a traceback."""
    from psflow.store import StoreError
    from psflow.transform import TransformError

    try:
        return call()
    except TransformError as error:
        for diagnostic in error.diagnostics:
            say(diagnostic.format(), error=True)
    except (api.UsageError, StoreError) as error:
        say(f"error: {error}", error=True)
    raise typer.Exit(2)


def _report(result: api.RunResult) -> None:
    """One line per job: how it ended, or why nothing ran."""
    if result.error:
        say(f"job {result.job_id}: not run: {result.error}", error=True)
        return
    if result.skipped:
        say(f"job {result.job_id}: {result.note}")
        return
    detail = f" ({result.reason})" if result.reason else ""
    note = f"; {result.note}" if result.note else ""
    say(
        f"job {result.job_id}: {result.status}{detail} — attempt {result.attempt}, "
        f"{result.ran} block(s) ran, {result.replayed} replayed{note}"
    )


def main() -> None:
    app(prog_name="psflow")


if __name__ == "__main__":
    sys.exit(main())
