"""Bad input through the real command: a one-line message that says what and where, exit 2, no
traceback, nothing on stdout, nothing stored. One real command per bad input; the variants of each
(every syntax error, every kind of block name, every invalid id, every URL form) are tested in-process:
what exec refuses in tests/service/test_running.py, databases in tests/service/test_setup.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from psflow.store import Store
from support.cli import assert_clean_error
from support.database import snapshot
from support.running import run


def _nothing_stored(row_counts) -> None:
    assert row_counts() == {"psflow_job": 0, "psflow_attempt": 0, "psflow_block": 0}


@pytest.mark.parametrize("command", ["exec", "show"])
def test_missing_script(psflow, tmp_path, row_counts, command):
    result = psflow(command, "nosuch.py")

    assert_clean_error(result, f"script not found: {tmp_path / 'nosuch.py'}")
    _nothing_stored(row_counts)


def test_a_folder_is_not_a_script(psflow, tmp_path, row_counts):
    (tmp_path / "folder.py").mkdir()

    assert_clean_error(psflow("exec", "folder.py"), "is a directory")
    _nothing_stored(row_counts)


def test_syntax_error_names_file_line_column_and_line(psflow, tmp_path, row_counts):
    script = tmp_path / "broken.py"
    script.write_text("x = 1\nprint(x\n")

    result = psflow("exec", "broken.py")

    assert_clean_error(result, f"{script}:2:6: error: syntax error", "was never closed", "\n    print(x\n")
    _nothing_stored(row_counts)
    assert not (tmp_path / "__pycache__").exists()


def test_block_name_must_be_a_str(psflow, tmp_path, row_counts):
    script = tmp_path / "named.py"
    script.write_text("x = 1\nwith block(42):\n    y = 2\n")

    assert_clean_error(
        psflow("exec", "named.py"), f"{script}:2:", "block name must be a str, not int", "with block(42):"
    )
    _nothing_stored(row_counts)


def test_show_reports_the_same_errors(psflow, tmp_path):
    (tmp_path / "named.py").write_text("with block(42):\n    y = 2\n")

    assert_clean_error(psflow("show", "named.py"), f"{tmp_path / 'named.py'}:1:12: error: block name must be a str")


@pytest.mark.parametrize("command", [("job", "nosuch"), ("resume", "--job", "nosuch")], ids=["job", "resume"])
def test_unknown_job_id(psflow, tmp_path, empty_database, row_counts, command):
    result = psflow(*command)

    assert_clean_error(result, "no job with id 'nosuch'")
    _nothing_stored(row_counts)


def test_ambiguous_job_id_prefix(psflow, store: Store, write):
    path = write("wait.py", "stop('Waiting')\n")
    for job_id in ("nightly-1", "nightly-2"):
        assert run(store, path, job_id).status == "Waiting"
    before = snapshot(psflow.db_url)

    for command in (("job", "nightly"), ("resume", "--job", "nightly")):
        assert_clean_error(psflow(*command), "job id prefix 'nightly' is ambiguous", "nightly-1", "nightly-2")

    assert snapshot(psflow.db_url) == before


def test_invalid_chosen_job_id(psflow, tmp_path, row_counts):
    (tmp_path / "ok.py").write_text("print('ran')\n")

    assert_clean_error(psflow("exec", "ok.py", "--job", "has space"), "job id 'has space' is not valid")
    _nothing_stored(row_counts)


@pytest.mark.parametrize("command", [("exec", "ok.py"), ("jobs",)], ids=["exec", "jobs"])
def test_unsupported_database_url(psflow, tmp_path, row_counts, command):
    (tmp_path / "ok.py").write_text("print('ran')\n")

    result = psflow(*command, "--db", "nosuch://x")

    assert_clean_error(result, "unsupported database URL 'nosuch://x'", "sqlite:///")
    _nothing_stored(row_counts)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://other.sqlite", "bad SQLite URL 'sqlite://other.sqlite'"),
        ("sqlite:///other.sqlite?colour=blue", "unknown SQLite URL option(s): colour"),
        ("postgresql://postgres@127.0.0.1:notaport/x", "bad PostgreSQL URL"),
        ("postgresql://postgres@127.0.0.1:1/psflow", "127.0.0.1 port 1"),
    ],
    ids=["two-slashes", "unknown-option", "bad-port", "unreachable"],
)
def test_malformed_or_unreachable_database_url(psflow, tmp_path, row_counts, url, message):
    (tmp_path / "ok.py").write_text("print('ran')\n")

    assert_clean_error(psflow("exec", "ok.py", "--db", url), message)
    assert not (tmp_path / "other.sqlite").exists()
    _nothing_stored(row_counts)


def test_database_url_password_is_not_printed(psflow, tmp_path):
    (tmp_path / "ok.py").write_text("print('ran')\n")

    result = psflow("exec", "ok.py", "--db", "mysql://admin:s3cret@db01/psflow")

    assert_clean_error(result, "mysql://admin:***@db01/psflow")
    assert "s3cret" not in result.stderr


def test_database_in_a_folder_that_does_not_exist(psflow, tmp_path, row_counts):
    (tmp_path / "ok.py").write_text("print('ran')\n")
    target = tmp_path / "no" / "such" / "folder" / "psflow.sqlite"

    result = psflow("exec", "ok.py", "--db", str(target))

    assert_clean_error(result, str(target), "does not exist")
    assert not (tmp_path / "no").exists()
    _nothing_stored(row_counts)


def test_database_where_even_root_cannot_write(psflow, tmp_path, row_counts):
    (tmp_path / "ok.py").write_text("print('ran')\n")

    result = psflow("jobs", "--db", "/proc/psflow-test.sqlite")

    assert_clean_error(result, "/proc/psflow-test.sqlite")
    assert not Path("/proc/psflow-test.sqlite").exists()
    _nothing_stored(row_counts)


def test_bad_database_in_the_environment(psflow, tmp_path):
    (tmp_path / "ok.py").write_text("print('ran')\n")

    result = psflow("exec", "ok.py", env={"PSFLOW_DB": "nosuch://x"})

    assert_clean_error(result, "unsupported database URL 'nosuch://x'")


@pytest.mark.parametrize(
    "args",
    [("resume", "--limit", "0"), ("jobs", "--limit", "x"), ("exec",), ("nosuch-command",)],
    ids=["limit-0", "limit-x", "no-script", "no-command"],
)
def test_usage_errors(psflow, row_counts, args):
    result = psflow(*args)

    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "Usage: psflow" in result.stderr
    _nothing_stored(row_counts)
