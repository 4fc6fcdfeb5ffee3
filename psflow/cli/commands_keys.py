"""`psflow key`: the deployment key that signs what psflow runs from the database (psflow.signing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from psflow.cli.app import DbOption, JsonOption, app, connect
from psflow.cli.messages import say
from psflow.cli.render import echo, shown

if TYPE_CHECKING:
    from psflow.service.setup import DeploymentKey

key_app = typer.Typer(
    name="key",
    help="The deployment key: jobs and workflows are signed with it where they are created, and every server "
    "verifies before it runs anything from the database.",
    no_args_is_help=True,
)
app.add_typer(key_app)


def say_key(key: DeploymentKey) -> None:
    """One line: which key this server holds, and what was done with it."""
    half = "private and public" if key.private else "public only: this server runs jobs, it cannot create them"
    say(f"deployment key {key.key_id} {key.action} ({half}) in {key.folder}")


@key_app.command("show")
def show(as_json: bool = JsonOption) -> None:
    """Show this server's deployment key: its id, which halves are here, where, and the public key line."""
    from psflow.service import keys

    info = keys.describe()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    if info["key_id"] is None:
        echo(f"no deployment key in {info['folder']}: the first `psflow init`, exec or register makes one")
        return
    echo(f"key id    {info['key_id']}")
    echo(f"holds     {'private and public' if info['private'] else 'public only (runs jobs, cannot create them)'}")
    echo(f"folder    {info['folder']}")
    echo(f"public    {info['public']}")


@key_app.command("create")
def create() -> None:
    """Make a new deployment key here (refused when this server already has one)."""
    from psflow.service import keys

    say_key(keys.create())


@key_app.command("export")
def export(
    public: bool = typer.Option(False, "--public", help="The public key, for servers that only run jobs (default)."),
    private: bool = typer.Option(False, "--private", help="The private key (PEM), for a server that creates jobs."),
) -> None:
    """Print this server's deployment key, to `psflow key import` (or `psflow init --key`) on another server."""
    from psflow.service import keys

    if public and private:
        say("error: give --public or --private, not both", error=True)
        raise typer.Exit(2)
    if private:
        say("note: this is the private key: whoever has it can make every server run code", error=True)
    print(keys.export(private=private), end="")


@key_app.command("import")
def import_(
    file: Path = typer.Argument(..., metavar="FILE", help="A public key line or a private key PEM."),
    replace: bool = typer.Option(
        False, "--replace", help="Replace another key already here (jobs it signed are refused)."
    ),
) -> None:
    """Install the deployment key in FILE on this server."""
    from psflow.service.setup import deployment_key

    say_key(deployment_key(file, replace=replace))


@key_app.command("sign")
def sign(
    job: list[str] | None = typer.Option(
        None, "--job", "-j", help="Sign this job as it is now (id or prefix; repeatable)."
    ),
    workflow: list[str] | None = typer.Option(
        None, "--workflow", metavar="NAME", help="Sign every version of this workflow as it is now (repeatable)."
    ),
    db: str | None = DbOption,
) -> None:
    """Vouch for rows the servers refuse: jobs and workflows from before psflow signed them, or changed since.

    Look first (`psflow job ID`, `psflow workflows NAME`): what is signed here runs on every server."""
    from psflow.service import keys

    if not job and not workflow:
        say("error: give --job JOB or --workflow NAME: what to sign", error=True)
        raise typer.Exit(2)
    with connect(db, create=False) as store:
        for signed in keys.sign_jobs(store, job or []):
            args = " ".join(shown(arg) for arg in signed.args)
            env = f", needs {' '.join(signed.env)}" if signed.env else ""
            say(f"signed job {signed.id}: runs {shown(signed.script)} {args} in {shown(signed.cwd or '')}{env}")
        for name, versions in keys.sign_workflows(store, workflow or []):
            say(f"signed workflow {name} v{', v'.join(str(version) for version in versions)}")
