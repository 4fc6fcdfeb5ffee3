"""Which database psflow uses (psflow.service.setup.connect), in-process: a database URL, path or
environment setting that names no usable database is a StoreError that says which and what to do,
never shows a password, and creates nothing. The real command's one-line errors for them are in
tests/e2e/test_bad_input.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from psflow.errors import StoreError
from psflow.service.setup import connect


def _refused(db: str | None) -> str:
    """The message connecting to `db` and using it gives."""
    with pytest.raises(StoreError) as refused, connect(db) as store:
        store.list_jobs()
    assert refused.value.exit_code == 2
    return str(refused.value)


def test_an_unsupported_url_says_which_forms_work() -> None:
    assert _refused("nosuch://x") == (
        "unsupported database URL 'nosuch://x'; use sqlite:///PATH, postgresql://USER:PASSWORD@HOST:PORT/DB, "
        "mssql://USER:PASSWORD@HOST:PORT/DB, or a file path"
    )


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
def test_a_malformed_or_unreachable_url_creates_nothing(
    url: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert message in _refused(url)
    assert list(tmp_path.iterdir()) == []


def test_a_password_in_a_url_is_never_shown() -> None:
    message = _refused("mysql://admin:s3cret@db01/psflow")

    assert "mysql://admin:***@db01/psflow" in message and "s3cret" not in message


@pytest.mark.parametrize("form", ["path", "url"])
def test_a_database_in_a_folder_that_does_not_exist_is_not_made(tmp_path: Path, form: str) -> None:
    target = tmp_path / "no" / "such" / "folder" / "psflow.sqlite"

    message = _refused(str(target) if form == "path" else f"sqlite:///{target}")

    assert message == f"cannot create database {target}: folder {target.parent} does not exist"
    assert not (tmp_path / "no").exists()


def test_a_database_where_even_root_cannot_write() -> None:
    assert _refused("/proc/psflow-test.sqlite").startswith("cannot create database /proc/psflow-test.sqlite: ")
    assert not Path("/proc/psflow-test.sqlite").exists()


def test_a_bad_database_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSFLOW_DB", "nosuch://x")

    assert _refused(None).startswith("unsupported database URL 'nosuch://x'")
