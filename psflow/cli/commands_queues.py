"""Commands for queues: submit (a job for a worker of its queue), queue (its global limit), queues."""

from __future__ import annotations

import json
from typing import cast

import typer

from psflow.cli.app import DbOption, JsonOption, app, connect
from psflow.cli.messages import say
from psflow.cli.near_misses import warn_near_misses
from psflow.domain import DEFAULT_QUEUE

QueueOption = typer.Option(
    DEFAULT_QUEUE, "--queue", "-q", help="The queue: a `psflow worker` that takes this queue runs the job."
)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def submit(
    ctx: typer.Context,
    script: str = typer.Argument(
        ..., help="The Python script to submit as a job, or a registered workflow's name (when no such file exists)."
    ),
    args: list[str] | None = typer.Argument(None, help="Arguments for the script (its sys.argv[1:])."),
    queue: str = QueueOption,
    job: str | None = typer.Option(
        None,
        "--job",
        help="Job id. Submitting the same script and arguments to the same queue under it again submits nothing.",
    ),
    priority: int = typer.Option(0, "--priority", help="Among the queue's due jobs, higher runs first."),
    env: list[str] | None = typer.Option(
        None,
        "--env",
        metavar="NAME",
        help="An environment variable the job needs at every attempt (see `psflow exec --env`; repeatable).",
    ),
    db: str | None = DbOption,
) -> None:
    """Create a job as `psflow exec` would (checked, its source stored and signed) without running it:
    it is Queued, due at once for a worker of its queue. Prints the job's id (`id=$(psflow submit …)`)."""
    from typer.core import TyperCommand

    from psflow.service import exec_requests
    from psflow.service.queues import check_priority, check_queue_name
    from psflow.service.submit import submit as submit_job

    warn_near_misses(cast(TyperCommand, ctx.command), args or [])
    check_queue_name(queue)
    check_priority(priority)
    request = exec_requests.exec_request(script, job, env or ())
    with exec_requests.connect_for(request, db) as store:
        submitted = submit_job(store, request, args or [], queue=queue, priority=priority, announce=say)
    found = submitted.job
    if submitted.created:
        say(f"job {found.id}: Queued in queue {found.queue}; a `psflow worker` taking that queue runs it")
    else:
        say(f"job {found.id}: submitted already ({found.status}): nothing new was submitted")
    print(found.id)


@app.command("queue")
def queue_(
    name: str = typer.Argument(..., metavar="NAME", help="The queue's name."),
    limit: int | None = typer.Option(
        None, "--limit", metavar="N", help="At most N of its jobs Running at once, across all servers."
    ),
    no_limit: bool = typer.Option(False, "--no-limit", help="Remove the queue's limit."),
    as_json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Set a queue's global limit (--limit N, --no-limit), or show the queue."""
    from psflow.errors import UsageError
    from psflow.service import queues

    if limit is not None and no_limit:
        raise UsageError("--limit and --no-limit cannot be combined: give one")
    queues.check_queue_name(name)
    if limit is not None or no_limit:
        with connect(db) as store:
            queues.set_limit(store, name, None if no_limit else limit)
            shown = queues.show(store, name)
        say(f"queue {name}: " + (f"at most {limit} job(s) Running at once" if limit is not None else "no limit"))
    else:
        with connect(db, create=False) as store:
            shown = queues.show(store, name)
    _print_queues([shown.to_json()], as_json=as_json, one=True)


@app.command("queues")
def queues_(as_json: bool = JsonOption, db: str | None = DbOption) -> None:
    """List the queues (those with a limit, and those jobs name): limit, Running, due and waiting jobs.

    DUE and WAITING count jobs a worker takes by default (Waiting, Interrupted, Queued): due now, or
    waiting for a timer or an input; OTHER counts the rest that have not ended (Failed, …)."""
    with connect(db, create=False) as store:
        found = store.queue_counts()
    _print_queues([queue.to_json() for queue in found], as_json=as_json)


def _print_queues(rows: list[dict], *, as_json: bool, one: bool = False) -> None:
    from psflow.cli.render import print_queues

    if as_json:
        print(json.dumps(rows[0] if one else rows, indent=2))
    else:
        print_queues(rows)
