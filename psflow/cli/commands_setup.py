"""Commands that set psflow up: register and workflows, init and config."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from psflow.cli.app import DbOption, JsonOption, app, connect
from psflow.cli.commands_keys import say_key
from psflow.cli.messages import say
from psflow.cli.render import echo, print_workflow_versions, print_workflows

if TYPE_CHECKING:
    from psflow.service.setup import InitResult


@app.command()
def register(
    name: str = typer.Argument(..., metavar="NAME", help="The workflow's name: letters, digits, '_', '.', '-'."),
    script: Path = typer.Argument(
        ..., metavar="SCRIPT", help="The script whose source becomes the workflow's next version."
    ),
    db: str | None = DbOption,
) -> None:
    """Store SCRIPT's source in the database as the next version of workflow NAME.

    `psflow exec NAME` then runs the newest version on any server, no file needed.
    """
    from psflow.service import workflows

    with connect(db) as store:
        registered = workflows.register(store, name, script)
    if not registered.created:
        say(f"workflow {name} v{registered.version} already has this source: no new version")
        return
    again = f" (the same source as v{registered.same_as})" if registered.same_as else ""
    say(f"registered workflow {name} v{registered.version}{again}: `psflow exec {name}` runs it")


@app.command("workflows")
def workflows_(
    name: str | None = typer.Argument(None, metavar="NAME", help="Show every version of this workflow instead."),
    as_json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """List registered workflows: newest version, how many versions, registered when, by whom, where."""
    from psflow.service import workflows

    with connect(db, create=False) as store:
        rows = workflows.workflow_versions(store, name) if name is not None else workflows.workflows(store)
    if as_json:
        print(json.dumps(rows, indent=2))
    elif name is not None:
        print_workflow_versions(rows)
    else:
        print_workflows(rows)


class SettingsTarget(StrEnum):
    env = "env"
    file = "file"


@app.command()
def init(
    sqlite: str | None = typer.Option(
        None, "--sqlite", metavar="PATH", help="A SQLite file (path, sqlite:/// URL or Data Source=…)."
    ),
    postgres: str | None = typer.Option(
        None,
        "--postgres",
        metavar="URL",
        help="PostgreSQL: postgresql://USER:PASSWORD@HOST:5432/DB (or Host=…;Database=…).",
    ),
    mssql: str | None = typer.Option(
        None,
        "--mssql",
        metavar="CONNSTR",
        help="MS SQL Server: Server=HOST,1433;Database=DB;User Id=…;Password=… (or mssql://…).",
    ),
    connection_string: str | None = typer.Option(
        None, "--connection-string", metavar="STR", help="Any of the above; psflow tells which."
    ),
    settings: SettingsTarget | None = typer.Option(
        None,
        "--settings",
        case_sensitive=False,
        help="Keep this database for later commands: "
        "'file' saves it in the config file, 'env' prints the PSFLOW_DB line.",
    ),
    upgrade: bool = typer.Option(
        False, "--upgrade", help="Upgrade a database made by an older psflow (back it up first)."
    ),
    key: str | None = typer.Option(
        None,
        "--key",
        metavar="FILE",
        help="The deployment key to use here: the public key (`psflow key export --public`) on a server that only "
        "runs jobs, or the private key (default: keep this server's key, or make one).",
    ),
) -> None:
    """Create psflow's tables in a database (or upgrade them), and optionally keep it as the default.

    It also sets up this server's deployment key, which signs and verifies what psflow runs from the database."""
    from psflow.service import setup

    result = setup.init(
        sqlite=sqlite,
        postgres=postgres,
        mssql=mssql,
        connection_string=connection_string,
        upgrade=upgrade,
        settings=settings.value if settings else None,
        key_file=key,
    )
    _report_init(result)


def _report_init(result: InitResult) -> None:
    """What init did, what it ignored, the key, and how later commands will find the database."""
    if result.action == "created":
        say(f"created psflow schema {result.version} in {result.where}")
    elif result.action == "upgraded":
        say(f"upgraded {result.where} from psflow schema {result.found} to {result.version}")
    else:
        say(f"psflow schema {result.version} in {result.where} is already current")
    if result.ignored:
        say(f"ignored (no meaning for psflow): {', '.join(result.ignored)}")
    if result.key is not None:
        say_key(result.key)
    if result.config_file:
        say(f"saved in {result.config_file}: psflow commands here use it unless --db or PSFLOW_DB say otherwise")
    if result.env_lines:
        say(
            "put PSFLOW_DB in the environment of every psflow command: the first line for sh, cron, systemd; "
            "the second for PowerShell ([Environment]::SetEnvironmentVariable('PSFLOW_DB', …, 'User') keeps it)"
        )
        for line in result.env_lines:
            print(line)
    if not result.in_effect:
        say(
            "note: commands here use another database (`psflow config` says which and why): "
            + (
                "PSFLOW_DB comes before the config file"
                if result.config_file
                else "pass --db, or run init with --settings file|env"
            )
        )


@app.command("config")
def config_(as_json: bool = JsonOption, db: str | None = DbOption) -> None:
    """Show which database psflow uses and why: --db, then PSFLOW_DB, then the config file, then the default."""
    from psflow.service import setup

    info = setup.config(db)
    if as_json:
        print(json.dumps(info, indent=2))
        return
    labels = {"flag": "--db", "env": "PSFLOW_DB", "file": "config file", "default": "default"}
    state = ""
    if info["error"]:
        state = f" (cannot be used: {info['error']})"
    elif info["exists"] is False:
        state = f" (does not exist yet: `{info['init']}` or the first command that writes creates it)"
    echo(f"database  {info['database']}{state}")
    echo(f"from      {labels[info['source']]}" + (f" ({info['where']})" if info["source"] == "file" else ""))
    echo(f"config    {info['config_file']}" + ("" if info["config_file_exists"] else " (none)"))
    echo()
    for place in info["settings"]:
        value = place["database"] or (f"unreadable: {place['error']}" if place["error"] else "-")
        mark = "  <- in effect" if place["in_effect"] else ""
        echo(f"  {labels[place['source']]:<12} {value}{mark}")
