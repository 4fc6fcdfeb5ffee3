"""Commands that run jobs: exec, resume (and its dry run), worker, send."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import typer

from psflow.cli.app import DbOption, ReplayOutputOption, RerunChangedOption, app, connect, fail
from psflow.cli.messages import JobProgress, say
from psflow.cli.near_misses import warn_near_misses
from psflow.cli.render import shown
from psflow.domain import RESUME_STATUSES, WORKER_STATUSES, JobStatus, RunOptions
from psflow.errors import EXIT_UNTRUSTED

if TYPE_CHECKING:
    from typer.core import TyperCommand

    from psflow.service.results import RunResult
    from psflow.service.workers import Shutdown
    from psflow.store import Store


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(
    ctx: typer.Context,
    script: str = typer.Argument(
        ..., help="The Python script to run as a job, or the name of a registered workflow (when no such file exists)."
    ),
    args: list[str] | None = typer.Argument(None, help="Arguments for the script (its sys.argv[1:])."),
    job: str | None = typer.Option(None, "--job", help="Job id: continue it if it exists, create it if not."),
    env: list[str] | None = typer.Option(
        None,
        "--env",
        metavar="NAME",
        help="An environment variable the job needs at every attempt (a secret): its name is stored, "
        "never its value; a resume where it is not set does not run the job (repeatable).",
    ),
    replay_output: bool = ReplayOutputOption,
    rerun_changed: bool = RerunChangedOption,
    db: str | None = DbOption,
) -> None:
    """Run SCRIPT as a new job (or continue job --job ID). SCRIPT may name a registered workflow.

    The script is checked first (see `psflow check`): errors stop it, warnings are printed.
    Arguments are stored with the job and shown by `psflow job`: pass secrets with --env.
    """
    from psflow.service import exec_requests, running

    warn_near_misses(cast("TyperCommand", ctx.command), args or [])
    request = exec_requests.exec_request(script, job, env or ())
    options = RunOptions(replay_output=replay_output, rerun_changed=rerun_changed)
    with exec_requests.connect_for(request, db) as store:
        result = running.run(store, request, args or [], options=options, announce=say)
    report(result)
    raise typer.Exit(result.exit_code)


NoPrefixOption = typer.Option(
    False,
    "--no-prefix",
    help="Do not start each line a job prints with [JOB] (the default on a terminal with many jobs).",
)


@app.command()
def resume(
    status: list[str] | None = typer.Option(
        None, "--status", "-s", help="Resume jobs in this status (default Waiting and Queued; repeatable)."
    ),
    job: list[str] | None = typer.Option(
        None, "--job", "-j", help="Resume this job (id or unique prefix; repeatable)."
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Resume at most N jobs."),
    parallel: int = typer.Option(
        1,
        "--parallel",
        "-p",
        min=1,
        help="Run the jobs in N worker processes (a job that crashes its process fails alone).",
    ),
    latest: bool = typer.Option(
        False, "--latest", help="Move jobs of registered workflows to the workflow's newest version first."
    ),
    set_: list[str] | None = typer.Option(
        None,
        "--set",
        metavar="NAME=VALUE",
        help="Send this input to the --job jobs first (see `psflow send`; repeatable).",
    ),
    replay_output: bool = ReplayOutputOption,
    rerun_changed: bool = RerunChangedOption,
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Say, per job, which blocks would replay, run, be new or be gone; run and write nothing.",
    ),
    queue: list[str] | None = typer.Option(
        None, "--queue", "-q", help="Only due jobs of this queue (default: every queue; repeatable)."
    ),
    no_prefix: bool = NoPrefixOption,
    db: str | None = DbOption,
) -> None:
    """Run every due job in a status again (default: Waiting, and Queued jobs never run yet), in worker
    processes. Exit 1 if any job failed or could not run; 130/143 if Ctrl-C or SIGTERM interrupted it."""
    from psflow.service import inputs

    statuses = status or list(RESUME_STATUSES)
    queues = _resume_queues(job, set_, queue, dry_run)
    if dry_run:
        _dry_run(statuses, job or [], limit, latest, rerun_changed, db, queues)
    options = RunOptions(replay_output=replay_output, rerun_changed=rerun_changed, latest=latest)
    given = inputs.parse_inputs(set_) if set_ else None
    with connect(db) as store:
        if given is not None:
            _send(store, job or [], given)
        prefix = _prefixed(no_prefix, parallel > 1)
        tally, shutdown = _resume_in_workers(
            store, job or [], statuses, limit, queues, processes=parallel, prefix=prefix, options=options
        )
    where = ", ".join(status) if status else JobStatus.WAITING  # Queued jobs are new: not "resumed" ones
    where += f" of queue {', '.join(queues)}" if queues else ""
    summarize(tally, f"resumed {tally.total} job(s) in {where if not job else 'the named jobs'}", shutdown)


def _resume_queues(job: list[str] | None, set_: list[str] | None, queue: list[str] | None, dry_run: bool) -> list[str]:
    """The --queue names, once resume's options are known to go together."""
    from psflow.service.queues import check_queue_name

    if set_ and not job:
        fail("--set needs --job JOB: say which job the input is for")
    if queue and job:
        fail("--queue chooses among the due jobs, --job names them: give one")
    queues = [check_queue_name(name) for name in queue or []]
    if dry_run and set_:
        fail("--dry-run writes nothing, so it cannot --set inputs: send them with `psflow send`")
    return queues


def _resume_in_workers(
    store: Store,
    job_ids: list[str],
    statuses: list[str],
    limit: int | None,
    queues: list[str],
    *,
    processes: int,
    prefix: bool,
    options: RunOptions,
) -> tuple[Tally, Shutdown]:
    """`resume`'s jobs run in worker processes; counted first (the progress bar's total)."""
    from psflow.service.due import due_jobs
    from psflow.service.history import check_statuses

    if job_ids:
        total = len(job_ids)
    else:
        check_statuses(store, statuses)
        total = len(due_jobs(store, statuses, limit=limit, queues=queues))
    return _in_workers(
        store,
        "resuming",
        total=total,
        statuses=statuses,
        job_ids=job_ids,
        processes=processes,
        limit=limit,
        prefix=prefix,
        options=options,
        queues=queues,
    )


def _in_workers(
    store: Store,
    label: str,
    *,
    total: int | None = None,
    graceful: bool = False,
    forever: bool = False,
    **pool: object,
) -> tuple[Tally, Shutdown]:
    """run_pool under a progress bar, with Ctrl-C and SIGTERM passed to the pool (see psflow.service.workers)."""
    from psflow.runtime.signals import EXIT_FOR
    from psflow.service.workers import Shutdown, run_pool

    shutdown, tally = Shutdown(announce=say), Tally()
    saved = {signum: signal.signal(signum, lambda signum, frame: shutdown.request(signum)) for signum in EXIT_FOR}
    try:
        with JobProgress(label) as progress:
            progress.expect(total)
            run_pool(
                store,
                shutdown=shutdown,
                graceful=graceful,
                forever=forever,
                on_result=_counted(progress, tally),
                **pool,  # type: ignore[arg-type]
            )
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    return tally, shutdown


def _prefixed(no_prefix: bool, many: bool) -> bool:
    """Prefix each line a job prints with its id: on a terminal, when several jobs run at once."""
    return many and not no_prefix and sys.stdout.isatty()


def _dry_run(
    statuses: list[str],
    job_ids: list[str],
    limit: int | None,
    latest: bool,
    rerun_changed: bool,
    db: str | None,
    queues: list[str],
) -> None:
    """`resume --dry-run`: print each job's plan; exit 1 if a job's script does not compile now."""
    from psflow.cli.preview import print_plan
    from psflow.service.preflight import plan_resume

    with connect(db, create=False) as store:  # a dry run writes nothing, not even an empty database
        plans = plan_resume(
            store,
            statuses=statuses,
            job_ids=job_ids,
            limit=limit,
            latest=latest,
            rerun_changed=rerun_changed,
            queues=queues,
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
    status: list[str] | None = typer.Option(
        None,
        "--status",
        "-s",
        help="Take jobs in this status (default Waiting, Interrupted, Queued, and Running whose runner is "
        "gone; repeatable).",
    ),
    poll: float = typer.Option(5.0, "--poll", min=0.05, help="Seconds between looks for due jobs."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Worker processes."),
    once: bool = typer.Option(False, "--once", help="Take the jobs due now, then exit."),
    queue: list[str] | None = typer.Option(
        None,
        "--queue",
        "-q",
        help="Take only jobs of this queue (repeatable). Without --queue the worker takes every queue's jobs.",
    ),
    no_prefix: bool = NoPrefixOption,
    db: str | None = DbOption,
) -> None:
    """Keep taking due jobs on this server and running them, until SIGTERM or Ctrl-C.

    A job is taken whenever it is due: its timer ran out, its input arrived, it was
    retried or handed back, it was submitted (Queued), its runner is gone (a Running job whose
    lease ran out, or whose process on this host died), on whichever server. Without --queue
    every queue's jobs are taken; a queue at its global limit (`psflow queue NAME --limit N`)
    is left alone until one of its jobs ends. On SIGTERM/Ctrl-C no new job is taken;
    a running job finishes its current block and goes back to the status it had; a
    second signal interrupts it (Interrupted). Exit 130/143 after a signal.
    """
    from psflow.service.queues import check_queue_name

    statuses = status or list(WORKER_STATUSES)
    queues = [check_queue_name(name) for name in queue or []]
    taking = f"{', '.join(statuses)} jobs" + (f" of queue {', '.join(queues)}" if queues else "")
    say(f"worker: {concurrency} process(es) taking {taking}" + ("" if once else f", every {poll:g}s"))
    with connect(db) as store:
        tally, shutdown = _in_workers(
            store,
            "worker",
            graceful=True,
            forever=not once,
            statuses=statuses,
            processes=concurrency,
            poll=poll,
            prefix=_prefixed(no_prefix, True),
            queues=queues,
            # By default Running jobs are taken only from a runner that is gone: the rest are no news.
            untold=() if status else [JobStatus.RUNNING],
        )
    summarize(tally, f"worker ran {tally.total} job(s)", shutdown)


@app.command()
def send(
    job: str = typer.Argument(..., metavar="JOB", help="Job id or unique prefix."),
    values: list[str] | None = typer.Argument(
        None,
        metavar="NAME=VALUE...",
        help='Inputs; a VALUE that parses as JSON is that value (3, true, "3"), else text.',
    ),
    json_text: str | None = typer.Option(
        None, "--json", metavar="OBJECT", help='Inputs as a JSON object: \'{"approval": "yes"}\'.'
    ),
    resume_now: bool = typer.Option(False, "--resume", help="Run the job now (like `psflow resume --job JOB`)."),
    db: str | None = DbOption,
) -> None:
    """Send input to a job for its `wait_for(NAME)`; it runs at the next `psflow resume` (or worker)."""
    from psflow.service import inputs

    given = inputs.parse_inputs(values or [], json_text)
    with connect(db) as store:
        _send(store, [job], given, later=not resume_now)
        if not resume_now:
            return
        tally, shutdown = _in_workers(store, "resuming", total=1, job_ids=[job])
    summarize(tally, f"resumed {tally.total} job(s)", shutdown)


def _send(store, job_ids: list[str], given: dict, *, later: bool = False) -> None:
    """Store the inputs for the jobs and say so (exit 2, nothing stored, if any job cannot take them)."""
    from psflow.service import inputs

    for sent in inputs.send(store, job_ids, given):
        names = ", ".join(sent.names)
        tail = "; it runs at the next `psflow resume` (or worker), or now with --resume" if later else ""
        say(f"job {sent.job_id}: received {names}{tail}")
        for name, attempt in sent.already_read.items():
            say(f"job {sent.job_id}: note: it already read {name} in attempt {attempt}; wait_for keeps that value")


def report(result: RunResult) -> None:
    """One line per job: how it ended, or why nothing ran."""
    if result.error:
        say(f"job {result.job_id}: not run: {result.error}", error=True)
        return
    if result.skipped:
        say(f"job {result.job_id}: {result.note}")
        return
    detail = f" ({shown(result.reason)})" if result.reason else ""  # one line, whatever the script said
    note = f"; {result.note}" if result.note else ""
    say(
        f"job {result.job_id}: {result.status}{detail} — attempt {result.attempt}, "
        f"{result.ran} block(s) ran, {result.replayed} replayed{note}"
    )


class Tally:
    """What the jobs a command ran came to, counted as each one ends (a worker keeps no list of them)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.failed = self.untrusted = False

    def add(self, result: RunResult) -> None:
        key = "not run" if result.error else "skipped" if result.skipped else result.status
        self.counts[key] = self.counts.get(key, 0) + 1
        self.untrusted |= bool(result.error) and result.exit_code == EXIT_UNTRUSTED
        self.failed |= bool(result.error) or (result.status == JobStatus.FAILED and not result.skipped)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def summarize(tally: Tally, headline: str, shutdown: Shutdown | None = None) -> None:
    """The summary line after many jobs; exit 130/143 after a signal, else 1 if any failed or could not run."""
    from psflow.runtime.signals import EXIT_FOR

    summary = ", ".join(f"{count} {name}" for name, count in sorted(tally.counts.items())) or "nothing to do"
    say(f"{headline}: {summary}")
    if shutdown is not None and shutdown.requested:
        raise typer.Exit(EXIT_FOR.get(signal.Signals(shutdown.signals[0]), EXIT_FOR[signal.SIGINT]))
    if tally.untrusted:
        raise typer.Exit(EXIT_UNTRUSTED)  # what the database asked to run was refused: the one to look at first
    raise typer.Exit(1 if tally.failed else 0)


def _counted(progress: JobProgress, tally: Tally) -> Callable[[RunResult], None]:
    """on_result for many jobs: the job's line, one more on the progress bar, and the tally."""

    def on_result(result: RunResult) -> None:
        report(result)
        progress.advance()
        tally.add(result)

    return on_result
