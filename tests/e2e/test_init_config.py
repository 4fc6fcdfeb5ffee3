"""`psflow init` and `psflow config` through the real console script.

Each test has its own config file (PSFLOW_CONFIG) and data folder (XDG_DATA_HOME), and
no PSFLOW_DB unless it sets one: the user's real settings are never read or written.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from psflow.store.tables import SCHEMA_VERSION
from support.cli import assert_clean_error


def option_for(url: str) -> list[str]:
    return ["--sqlite", url[len("sqlite:///") :]] if url.startswith("sqlite:") else ["--postgres", url]


def tables_in(url: str) -> set[str]:
    if url.startswith("sqlite:") and not Path(url[len("sqlite:///") :]).exists():
        return set()
    from playhouse.db_url import connect

    db = connect(url)
    try:
        return set(db.get_tables())
    finally:
        db.close()


PSFLOW_TABLES = {
    "psflow_schema_version",
    "psflow_job",
    "psflow_attempt",
    "psflow_block",
    "psflow_signal",
    "psflow_workflow",
}


# ---- init ------------------------------------------------------------------------------------


def test_init_creates_the_schema_then_finds_it_current(db_url, run):
    created = run("init", *option_for(db_url))

    assert created.returncode == 0, created.stderr
    assert f"created psflow schema {SCHEMA_VERSION} in " in created.stderr and created.stdout == ""
    assert tables_in(db_url) >= PSFLOW_TABLES
    again = run("init", *option_for(db_url))
    assert again.returncode == 0 and "already current" in again.stderr
    assert run("jobs", "--db", db_url).returncode == 0


def test_init_reads_the_seeds_sqlite_connection_string(tmp_path, run):
    (tmp_path / "bin").mkdir()

    result = run("init", "--connection-string", "Data Source=./bin/SQLDb.sqlite;Version=3;")

    assert result.returncode == 0, result.stderr
    assert f"created psflow schema {SCHEMA_VERSION} in {tmp_path / 'bin' / 'SQLDb.sqlite'}" in result.stderr
    assert "ignored (no meaning for psflow): Version" in result.stderr
    assert (tmp_path / "bin" / "SQLDb.sqlite").is_file()


@pytest.mark.parametrize("option", ["--sqlite", "--connection-string"])
def test_init_takes_a_sqlite_url(tmp_path, run, option):
    result = run("init", option, "sqlite:///jobs.sqlite?synchronous=normal")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "jobs.sqlite").is_file()


def test_init_postgres_with_an_npgsql_connection_string(run, postgres_server, postgres_database):
    name = postgres_database.rsplit("/", 1)[1]
    text = f"Host={postgres_server.host};Port={postgres_server.port};Database={name};Username=postgres;Pooling=true"

    result = run("init", "--connection-string", text, "--settings", "file")

    assert result.returncode == 0, result.stderr
    assert tables_in(postgres_database) >= PSFLOW_TABLES
    assert json.loads(run("config", "--json").stdout)["database"] == postgres_database


def test_settings_file_makes_it_the_database_for_later_commands(tmp_path, run, config_file, write):
    write("flow.py", 'with block("A"):\n    x = 1\n')

    result = run("init", "--sqlite", "team.sqlite", "--settings", "file")

    assert result.returncode == 0, result.stderr
    assert f"saved in {config_file}" in result.stderr
    url = f"sqlite:///{tmp_path / 'team.sqlite'}"  # made absolute: the same file from any folder
    assert tomllib.loads(config_file.read_text()) == {"database": {"url": url}}
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    shown = json.loads(run("config", "--json").stdout)
    assert (shown["database"], shown["source"], shown["where"]) == (url, "file", str(config_file))
    (tmp_path / "elsewhere").mkdir()
    ran = run("exec", str(tmp_path / "flow.py"))  # no --db, no PSFLOW_DB: the config file's database
    assert ran.returncode == 0, ran.stderr
    jobs = json.loads(run("jobs", "--json", "--db", url).stdout)
    assert len(jobs) == 1 and jobs[0]["status"] == "Completed"
    assert not (tmp_path / "data" / "psflow" / "psflow.sqlite").exists()


def test_settings_env_prints_the_lines_to_set(tmp_path, run, config_file):
    result = run("init", "--sqlite", "team.sqlite", "--settings", "env")

    assert result.returncode == 0, result.stderr
    url = f"sqlite:///{tmp_path / 'team.sqlite'}"
    posix, powershell = result.stdout.splitlines()
    assert posix.startswith("PSFLOW_DB=") and shlex.split(posix.split("=", 1)[1]) == [url]
    assert powershell == f"$env:PSFLOW_DB = '{url}'"
    assert "PowerShell" in result.stderr
    assert not config_file.exists()
    shown = json.loads(run("config", "--json", env={"PSFLOW_DB": url}).stdout)
    assert (shown["database"], shown["source"]) == (url, "env")


def test_settings_value_is_case_insensitive(run, config_file):
    assert run("init", "--sqlite", "a.sqlite", "--settings", "FILE").returncode == 0
    assert config_file.exists()


def test_init_says_when_another_database_is_in_effect(tmp_path, run):
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"

    plain = run("init", "--sqlite", "new.sqlite", env={"PSFLOW_DB": other})
    saved = run("init", "--sqlite", "new.sqlite", "--settings", "file", env={"PSFLOW_DB": other})

    assert plain.returncode == 0 and "commands here use another database" in plain.stderr
    assert saved.returncode == 0 and "PSFLOW_DB comes before the config file" in saved.stderr


# ---- config and the precedence -------------------------------------------------------------------


def test_precedence_flag_env_file_default(tmp_path, run, config_file):
    default = f"sqlite:///{tmp_path / 'data' / 'psflow' / 'psflow.sqlite'}"
    file_url, env_url, flag_url = (f"sqlite:///{tmp_path / name}.sqlite" for name in ("file", "env", "flag"))

    def shown(*args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
        result = run("config", "--json", *args, env=env)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        return data["source"], data["database"]

    assert shown() == ("default", default)
    assert run("init", "--sqlite", "file.sqlite", "--settings", "file").returncode == 0
    assert shown() == ("file", file_url)
    assert shown(env={"PSFLOW_DB": env_url}) == ("env", env_url)
    assert shown("--db", flag_url, env={"PSFLOW_DB": env_url}) == ("flag", flag_url)


def test_every_command_follows_the_precedence(tmp_path, run, write):
    """Not only `config`: exec and jobs use the file, PSFLOW_DB beats it, --db beats both."""
    write("flow.py", 'with block("A"):\n    x = 1\n')
    urls = {name: f"sqlite:///{tmp_path / name}.sqlite" for name in ("file", "env", "flag")}
    assert run("init", "--sqlite", "file.sqlite", "--settings", "file").returncode == 0

    assert run("exec", "flow.py").returncode == 0
    assert run("exec", "flow.py", env={"PSFLOW_DB": urls["env"]}).returncode == 0
    assert run("exec", "flow.py", "--db", urls["flag"], env={"PSFLOW_DB": urls["env"]}).returncode == 0

    for name, url in urls.items():
        jobs = json.loads(run("jobs", "--json", "--db", url).stdout)
        assert len(jobs) == 1, name


def test_config_masks_passwords_everywhere(tmp_path, run, config_file):
    config_file.parent.mkdir()
    config_file.write_text('[database]\nurl = "mssql://ops:file-secret@db01:1433/psflow"\n')
    env = {"PSFLOW_DB": "postgresql://ops:env-secret@pg01:5432/psflow"}

    for args in (("config",), ("config", "--json")):
        result = run(*args, "--db", "postgresql://ops:flag-secret@pg02/psflow", env=env)
        assert result.returncode == 0, result.stderr
        assert "secret" not in result.stdout + result.stderr
        assert "ops:***@pg02" in result.stdout and "ops:***@pg01" in result.stdout and "ops:***@db01" in result.stdout
    text = run("config", env=env).stdout
    assert "postgresql://ops:***@pg01:5432/psflow" in text.splitlines()[0]
    assert "PSFLOW_DB" in text.splitlines()[1]


def test_config_reports_an_unreadable_config_file(tmp_path, run, config_file, write):
    config_file.parent.mkdir()
    config_file.write_text("[database\nurl = 'x'")
    write("flow.py", "x = 1\n")

    shown = run("config")
    assert shown.returncode == 0 and "unreadable" in shown.stdout and "from      default" in shown.stdout
    assert_clean_error(run("jobs"), f"config file {config_file} is not valid TOML")
    ok = run("resume", env={"PSFLOW_DB": f"sqlite:///{tmp_path / 'x.sqlite'}"})  # the file is not needed: not read
    assert ok.returncode == 0, ok.stderr


# ---- bad input: a message, exit 2, nothing written -----------------------------------------------


def _nothing_written(tmp_path: Path, config_file: Path, before: set[str]) -> None:
    assert not config_file.exists()
    assert {path.name for path in tmp_path.iterdir()} == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["init"],
            "give exactly one database: --sqlite PATH, --postgres URL, --mssql CONNSTR or --connection-string STR (none was given)",
        ),
        (["init", "--sqlite", "a.sqlite", "--postgres", "postgresql://u@h/db"], "(--sqlite and --postgres were given)"),
        (
            ["init", "--sqlite", "a.sqlite", "--connection-string", "Data Source=b.sqlite"],
            "--sqlite and --connection-string were given",
        ),
        (
            ["init", "--connection-string", "Server=db01;Database=psflow;User Id=u;Password=ab;cd"],
            "part 5 (after Password=…) is not KEY=VALUE",
        ),
        (["init", "--connection-string", "Server=db01;Password='unclosed"], "the value of Password has no closing '"),
        (["init", "--connection-string", "nonsense"], "not a connection string or URL"),
        (
            ["init", "--connection-string", "Provider=Microsoft.ACE.OLEDB.12.0;Data Source=C:\\x.accdb"],
            "which psflow does not support",
        ),
        (["init", "--connection-string", "mysql://u:p@h/db"], "mysql:// databases are not supported"),
        (
            ["init", "--mssql", "Server=db01;Database=psflow;Integrated Security=SSPI"],
            "integrated (Windows) authentication is not supported",
        ),
        (["init", "--postgres", "Data Source=./x.sqlite"], "--postgres was given a SQLite connection string"),
        (["init", "--sqlite", "Data Source=:memory:"], "not a file psflow can keep jobs in"),
        (["init", "--sqlite", "sqlite:///x.sqlite?synchronous=off"], "synchronous must be 'full' or 'normal'"),
    ],
    ids=[
        "none",
        "two",
        "option-and-string",
        "unquoted-semicolon",
        "unclosed-quote",
        "no-key-value",
        "unknown-provider",
        "unknown-scheme",
        "integrated-auth",
        "wrong-option",
        "memory",
        "bad-url-option",
    ],
)
def test_bad_init_input(tmp_path, run, config_file, args, message):
    before = {path.name for path in tmp_path.iterdir()}

    result = run(*args, "--settings", "file")

    assert_clean_error(result, message)
    assert "ab;cd" not in result.stderr and "=cd" not in result.stderr
    _nothing_written(tmp_path, config_file, before)


def test_settings_takes_only_env_or_file(tmp_path, run, config_file):
    before = {path.name for path in tmp_path.iterdir()}

    result = run("init", "--sqlite", "a.sqlite", "--settings", "registry")

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'registry' is not one of" in result.stderr and "env" in result.stderr and "file" in result.stderr
    _nothing_written(tmp_path, config_file, before)


def test_unreachable_postgres(tmp_path, run, config_file):
    before = {path.name for path in tmp_path.iterdir()}

    result = run("init", "--postgres", "postgresql://ops:hunter2@127.0.0.1:1/psflow", "--settings", "file")

    assert_clean_error(
        result,
        "cannot use database postgresql://ops:***@127.0.0.1:1/psflow: connection refused: "
        "is a PostgreSQL server running at 127.0.0.1 port 1",
    )
    assert "hunter2" not in result.stderr
    _nothing_written(tmp_path, config_file, before)


def test_config_location_that_cannot_be_written_stops_before_the_database(tmp_path, run):
    (tmp_path / "a-file").write_text("")
    before = {path.name for path in tmp_path.iterdir()}

    result = run(
        "init",
        "--sqlite",
        "a.sqlite",
        "--settings",
        "file",
        env={"PSFLOW_CONFIG": str(tmp_path / "a-file" / "config.toml")},
    )

    assert_clean_error(result, "cannot save settings in", "is not a folder")
    assert {path.name for path in tmp_path.iterdir()} == before  # no a.sqlite either


def _read_only_folder(folder: Path) -> tuple[str, ...]:
    """Make `folder` unwritable for the command; the prefix to run it with.

    As root, permissions do not stop writes: mount an empty read-only tmpfs over it
    in a private mount namespace instead (where the test may; else skip).
    """
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return ()
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "-m", "true"], capture_output=True) if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root without mount namespaces: cannot make a read-only folder")
    script = 'mount -t tmpfs -o ro psflow-ro "$0" && exec "$@"'
    return (unshare, "-m", "sh", "-c", script, str(folder))


def test_read_only_sqlite_folder(tmp_path, run, config_file):
    folder = tmp_path / "readonly"
    folder.mkdir()
    prefix = _read_only_folder(folder)
    try:
        result = run("init", "--sqlite", str(folder / "psflow.sqlite"), "--settings", "file", prefix=prefix)
    finally:
        folder.chmod(0o755)

    assert_clean_error(result, f"cannot write database {folder / 'psflow.sqlite'}: {folder} is not writable")
    assert not config_file.exists() and list(folder.iterdir()) == []


def test_init_help_lists_every_way_to_name_a_database(run):
    result = run("init", "--help")
    assert result.returncode == 0
    for option in ("--sqlite", "--postgres", "--mssql", "--connection-string", "--settings", "--upgrade"):
        assert option in result.stdout
