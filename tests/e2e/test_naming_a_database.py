"""`--db`, PSFLOW_DB and the config file take every form `psflow init --connection-string` takes,
and no form of a secret is ever printed: not by `config`, not by `init`, not in any error.

Each test has its own config file and data folder (the `run` fixture).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from support.cli import assert_clean_error

SECRET = "s3cr3t"


def _free_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _forms(port: int) -> dict[str, str]:
    """The same unreachable PostgreSQL database, its password written in each way psflow reads."""
    return {
        "url": f"postgresql://ops:{SECRET}@127.0.0.1:{port}/psflow",
        "query": f"postgresql://ops@127.0.0.1:{port}/psflow?password={SECRET}",
        "npgsql": f"Host=127.0.0.1;Port={port};Database=psflow;Username=ops;Password={SECRET}",
        "quoted": f"Host=127.0.0.1;Port={port};Database=psflow;Username=ops;Password='{SECRET};x'",
    }


def _place(run, config_file: Path, place: str, text: str, *args: str):
    """`psflow ARGS` with the database named by `place`: --db, PSFLOW_DB or the config file."""
    if place == "file":
        config_file.parent.mkdir(exist_ok=True)
        config_file.write_text(f"[database]\nurl = {json.dumps(text)}\n")
        return run(*args)
    if place == "env":
        return run(*args, env={"PSFLOW_DB": text})
    return run(*args, "--db", text)


def _no_secret(result) -> None:
    output = result.stdout + result.stderr
    assert SECRET not in output and "s3cr" not in output, output


# ---- every form, everywhere a database is named ----------------------------------------------


@pytest.mark.parametrize("place", ["flag", "env", "file"])
def test_a_sqlite_connection_string_names_the_file_not_a_file_called_like_it(tmp_path, run, config_file, write, place):
    write("flow.py", 'with block("A"):\n    x = 1\n')
    (tmp_path / "bin").mkdir()
    text = "Data Source=./bin/SQLDb.sqlite;Version=3;"

    ran = _place(run, config_file, place, text, "exec", "flow.py")
    listed = _place(run, config_file, place, text, "jobs", "--json")

    assert ran.returncode == 0, ran.stderr
    assert [job["status"] for job in json.loads(listed.stdout)] == ["Completed"]
    assert (tmp_path / "bin" / "SQLDb.sqlite").is_file()
    assert sorted(path.name for path in tmp_path.iterdir() if "Data" in path.name) == []


@pytest.mark.parametrize("place", ["flag", "env", "file"])
@pytest.mark.parametrize("form", ["url", "query", "npgsql", "quoted"])
def test_an_unreachable_server_is_named_without_its_password(tmp_path, run, config_file, place, form):
    port = _free_port()
    before = {path.name for path in tmp_path.iterdir()}

    for command in (("jobs",), ("resume",)):  # one that reads, one that would create the schema
        result = _place(run, config_file, place, _forms(port)[form], *command)
        assert_clean_error(
            result, "cannot use database postgresql://ops", f"127.0.0.1:{port}/psflow", "connection refused"
        )
        _no_secret(result)
    assert {path.name for path in tmp_path.iterdir()} - before <= {"config"}  # no SQLite file named after it


@pytest.mark.parametrize("form", ["url", "query", "npgsql", "quoted"])
def test_config_shows_every_form_masked(run, config_file, form):
    text = _forms(5432)[form]
    for place in ("flag", "env", "file"):
        for args in (("config",), ("config", "--json")):
            result = _place(run, config_file, place, text, *args)
            assert result.returncode == 0, result.stderr
            _no_secret(result)
    shown = json.loads(_place(run, config_file, "env", text, "config", "--json").stdout)
    assert shown["database"].startswith("postgresql://ops") and "***" in shown["database"]  # as psflow reads it
    assert "***" in shown["settings"][1]["database"]  # as written in PSFLOW_DB


@pytest.mark.every_backend
def test_a_real_database_named_by_a_connection_string(psflow, db_url, write, postgres_server):
    if db_url.startswith("sqlite"):
        text = f"Data Source={db_url[len('sqlite:///') :]}"
    else:
        name = db_url.rsplit("/", 1)[1]
        text = f"Host={postgres_server.host};Port={postgres_server.port};Database={name};Username=postgres"
    write("flow.py", 'with block("A"):\n    x = 1\n')

    ran = psflow("exec", "flow.py", env={"PSFLOW_DB": text})
    listed = psflow("jobs", "--json", "--db", text)

    assert ran.returncode == 0, ran.stderr
    assert [job["status"] for job in json.loads(listed.stdout)] == ["Completed"]
    assert [job["status"] for job in json.loads(psflow("jobs", "--json").stdout)] == ["Completed"]  # the same one


# ---- bad input and init: the password is never repeated --------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"postgresql://ops:{SECRET}@db01:99999/psflow", "bad PostgreSQL URL 'postgresql://ops:***@db01:99999/psflow'"),
        (f"postgresql://ops@db01:99999/psflow?password={SECRET}", "?password=***"),
        (f"mysql://ops:{SECRET}@db01/psflow", "mysql://"),
        (f"Host=db01;Database=psflow;Password={SECRET};Bogus=1", "unknown key 'Bogus'"),
        (f"Server=db01;Database=psflow;User Id=ops;Pwd={{{SECRET};x}};Integrated Security=SSPI", "integrated"),
        (f"Server=db01;Database=psflow;User Id=ops;Password={SECRET};x", "is not KEY=VALUE"),
    ],
    ids=["bad-port", "bad-port-query", "unsupported-scheme", "unknown-key", "odbc-braces", "unquoted-semicolon"],
)
def test_a_bad_database_is_refused_without_repeating_the_password(run, text, message):
    for result in (
        run("jobs", "--db", text),
        run("exec", "flow.py", env={"PSFLOW_DB": text}),
        run("init", "--connection-string", text),
    ):
        assert_clean_error(result, message)
        _no_secret(result)


@pytest.mark.parametrize("form", ["url", "query", "npgsql", "quoted"])
def test_init_on_an_unreachable_server_masks_the_password(run, form):
    result = run("init", "--connection-string", _forms(_free_port())[form])

    assert_clean_error(result, "cannot use database postgresql://ops", "connection refused")
    _no_secret(result)


def test_an_unreachable_sql_server_is_named_without_its_password(run):
    pytest.importorskip("pytds")
    port = _free_port()
    text = f"Server=127.0.0.1,{port};Database=psflow;User Id=ops;Password={SECRET};Connect Timeout=3"

    for result in (run("jobs", "--db", text), run("init", "--mssql", text)):
        assert_clean_error(result, f"ops:***@127.0.0.1:{port}/psflow")
        _no_secret(result)
