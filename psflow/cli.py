"""The `psflow` command: parse, call psflow.api, print.

Exit codes: 0 completed · 1 the script failed · 2 bad input or usage ·
3 stopped with a status (Waiting or another word given to stop()).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from psflow import api
from psflow.output import print_job, print_jobs, print_source, say

app = typer.Typer(
    name="psflow",
    help="Make a plain Python script resumable: blocks run once per job, their results live in a database.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

DbOption = typer.Option(None, "--db", help="Database URL or SQLite path (default: $PSFLOW_DB, then the user data folder).")
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts and tools.")


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(
    script: Path = typer.Argument(..., help="The Python script to run as a job."),
    args: Optional[List[str]] = typer.Argument(None, help="Arguments for the script (its sys.argv[1:])."),
    job: Optional[str] = typer.Option(None, "--job", help="Job id: continue it if it exists, create it if not."),
    db: Optional[str] = DbOption,
) -> None:
    """Run SCRIPT as a new job (or continue job --job ID)."""
    result = _guarded(lambda: api.run(script, args or [], job_id=job, db=db))
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
    db: Optional[str] = DbOption,
) -> None:
    """Run every job in a status again (default: Waiting). Exit 1 if any job failed or could not run."""
    statuses = status or ["Waiting"]
    results = _guarded(
        lambda: api.resume(
            statuses=statuses, job_ids=job or [], limit=limit, db=db, on_result=_report, parallel=parallel
        )
    )
    _summarize(results, f"resumed {len(results)} job(s) in {', '.join(statuses) if not job else 'the named jobs'}")


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
    results = _guarded(
        lambda: run_pool(
            db=db, statuses=statuses, processes=concurrency, forever=not once, poll=poll,
            on_result=_report, shutdown=shutdown,
        )
    )
    _summarize(results, f"worker ran {len(results)} job(s)")


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
    """Show one job: its status, attempts and blocks."""
    detail = _guarded(lambda: api.job_detail(job_id, db=db))
    if as_json:
        print(json.dumps(detail, indent=2))
    else:
        print_job(detail)


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
