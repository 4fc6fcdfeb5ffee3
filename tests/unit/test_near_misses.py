"""psflow.cli.near_misses: which script arguments look like a mistyped option of `psflow exec`."""

from __future__ import annotations

import pytest
import typer

from psflow.cli import app
from psflow.cli.near_misses import warn_near_misses


@pytest.fixture
def exec_command():
    return typer.main.get_command(app).commands["exec"]


@pytest.mark.parametrize(
    ("arg", "meant"),
    [
        ("--jobs", "--job"),
        ("--rerun-chaged", "--rerun-changed"),
        ("--replay-ouptut=yes", "--replay-output"),
        ("--Job", "--job"),
        ("-job", "--job"),
        ("--dbs", "--db"),
    ],
)
def test_a_near_miss_names_the_option_it_resembles(exec_command, capsys, arg, meant):
    warn_near_misses(exec_command, ["data.csv", arg])

    given = arg.split("=")[0]
    assert capsys.readouterr().err == (
        f"psflow: warning: {given} is not a `psflow exec` option (did you mean {meant}?); it goes to the script\n"
    )


@pytest.mark.parametrize(
    "arg", ["--verbose", "--db-host", "-v", "--", "jobs", "--date=2026-11-27", "--output", "--job", "--db=x"]
)
def test_the_scripts_own_options_pass_quietly(exec_command, capsys, arg):
    """psflow's own options reach the script only after `--`: given on purpose, not mistyped."""
    warn_near_misses(exec_command, [arg])

    assert capsys.readouterr().err == ""
