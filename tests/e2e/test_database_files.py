"""Where psflow keeps its data, and what it creates there: a SQLite database and its -wal and -shm
files readable by their owner only (0600), folders 0700; commands that only read create nothing;
`psflow init` makes the folders it needs.

Each test has its own config file and data folder (the `run` fixture), whatever the umask.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from psflow.store.tables import SCHEMA_VERSION
from support.cli import assert_clean_error
from support.database import tables_of

READERS = [("jobs",), ("job", "some-job"), ("logs", "some-job"), ("workflows",), ("resume", "--dry-run")]
MODES = """
import os, stat, sys
from pathlib import Path
database = Path(sys.argv[1])
for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm"), database.parent):
    print(path.name, oct(stat.S_IMODE(path.stat().st_mode)))
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _permissive_umask():
    """The usual 022: what psflow creates must be private without the user's help."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _modes_seen_by_a_running_script(result) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return dict(line.split() for line in result.stdout.splitlines())


def test_the_default_database_and_its_folder_are_private(tmp_path, run, write):
    write("modes.py", MODES)
    database = tmp_path / "data" / "psflow" / "psflow.sqlite"

    seen = _modes_seen_by_a_running_script(run("exec", "modes.py", str(database)))  # while its connection is open

    assert seen == {
        "psflow.sqlite": "0o600",
        "psflow.sqlite-wal": "0o600",
        "psflow.sqlite-shm": "0o600",
        "psflow": "0o700",
    }
    assert mode(tmp_path / "data") == 0o700  # psflow made it: nobody else's business either


def test_a_database_named_with_db_is_private_too(tmp_path, run, write):
    write("modes.py", MODES)
    database = tmp_path / "jobs.sqlite"

    seen = _modes_seen_by_a_running_script(run("exec", "modes.py", str(database), "--db", f"sqlite:///{database}"))

    assert {name: value for name, value in seen.items() if name.startswith("jobs")} == dict.fromkeys(
        ("jobs.sqlite", "jobs.sqlite-wal", "jobs.sqlite-shm"), "0o600"
    )


def test_an_existing_database_keeps_the_mode_its_owner_gave_it(tmp_path, run, write):
    database = tmp_path / "shared.sqlite"
    assert run("init", "--sqlite", str(database)).returncode == 0
    database.chmod(0o660)  # shared with a group on purpose
    write("flow.py", "x = 1\n")

    assert run("exec", "flow.py", "--db", str(database)).returncode == 0

    assert mode(database) == 0o660


@pytest.mark.parametrize("option", ["--sqlite", "--connection-string"])
def test_init_creates_the_missing_folders_privately(tmp_path, run, option):
    given = "./bin/deep/SQLDb.sqlite" if option == "--sqlite" else r"Data Source=./bin/deep/SQLDb.sqlite;Version=3;"

    result = run("init", option, given)

    assert result.returncode == 0, result.stderr
    database = tmp_path / "bin" / "deep" / "SQLDb.sqlite"
    assert f"created psflow schema {SCHEMA_VERSION} in {database}" in result.stderr
    assert (mode(tmp_path / "bin"), mode(database.parent), mode(database)) == (0o700, 0o700, 0o600)


def test_init_refuses_a_folder_that_is_a_file(tmp_path, run):
    (tmp_path / "a-file").write_text("")

    assert_clean_error(run("init", "--sqlite", "a-file/x.sqlite"), "a-file")


def test_other_commands_still_refuse_a_missing_folder(tmp_path, run, write):
    write("flow.py", "x = 1\n")

    result = run("exec", "flow.py", "--db", "missing/psflow.sqlite")

    assert_clean_error(result, "cannot create database missing/psflow.sqlite: folder missing does not exist")
    assert not (tmp_path / "missing").exists()


# ---- commands that only read create nothing ------------------------------------------------------


@pytest.mark.parametrize("command", READERS, ids="-".join)
def test_a_reader_refuses_a_database_that_does_not_exist(tmp_path, run, command):
    database = tmp_path / "none.sqlite"

    result = run(*command, "--db", str(database))

    assert_clean_error(result, f"no psflow database at {database} (psflow init --sqlite {database} creates one)")
    assert not any(tmp_path.glob("none*")) and not (tmp_path / "data").exists()


def test_a_reader_refuses_a_sqlite_file_without_psflow_tables(tmp_path, run):
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"")

    result = run("jobs", "--db", str(other))

    assert_clean_error(result, f"no psflow tables in {other} (psflow init --sqlite {other} creates them)")
    assert other.read_bytes() == b""  # not even switched to WAL


def test_the_default_database_is_not_created_by_readers(tmp_path, run):
    assert_clean_error(run("jobs"), "no psflow database at", "psflow init --sqlite")
    assert not (tmp_path / "data").exists()


def test_config_says_the_database_does_not_exist_and_creates_nothing(tmp_path, run):
    database = tmp_path / "data" / "psflow" / "psflow.sqlite"

    text = run("config")
    shown = json.loads(run("config", "--json").stdout)

    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == (
        f"database  sqlite:///{database} (does not exist yet: "
        f"`psflow init --sqlite {database}` or the first command that writes creates it)"
    )
    assert (shown["exists"], shown["init"]) == (False, f"psflow init --sqlite {database}")
    assert not (tmp_path / "data").exists()
    assert run("init", "--sqlite", str(database)).returncode == 0
    assert json.loads(run("config", "--json").stdout)["exists"] is True


@pytest.mark.every_backend
def test_a_reader_refuses_a_database_without_psflow_tables_on_every_backend(psflow, db_url):
    result = psflow("jobs")

    if db_url.startswith("sqlite"):
        assert_clean_error(result, "no psflow database at")
    else:
        assert_clean_error(result, "no psflow tables in ", "://", "(psflow init --")
    assert tables_of(db_url) == set()
    assert psflow("resume").returncode == 0  # a command that writes creates them on first use
    assert psflow("jobs").stdout == "no jobs\n"
