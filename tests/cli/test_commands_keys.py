"""What `psflow key`, `psflow init --key` and `psflow exec --env` print and exit with, run in this process
through psflow.cli.main. The refusals of forged rows are tested through the real command in
tests/e2e/test_signing.py; the key files in tests/unit/test_signing.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from support.cli import assert_clean_error


@pytest.fixture
def keys() -> Path:
    return Path(os.environ["PSFLOW_CONFIG"]).parent / "keys"


def test_key_show_says_there_is_none_until_the_first_use_makes_one(cli, keys: Path) -> None:
    before = cli("key", "show")
    created = cli("key", "create")
    shown = json.loads(cli("key", "show", "--json").stdout)
    again = cli("key", "create")

    assert before.returncode == 0 and "no deployment key in" in before.stdout
    assert created.returncode == 0 and f"psflow: deployment key {shown['key_id']} created (private and public)" in (
        created.stderr
    )
    assert shown == {
        "key_id": shown["key_id"],
        "private": True,
        "folder": str(keys),
        "public": (keys / "deployment.pub").read_text().strip(),
    }
    assert_clean_error(again, "a deployment key is already in")


def test_export_prints_the_public_key_or_the_private_key_with_a_warning(cli) -> None:
    none = cli("key", "export")
    cli("key", "create")
    public = cli("key", "export", "--public")
    private = cli("key", "export", "--private")
    both = cli("key", "export", "--public", "--private")

    assert_clean_error(none, "no deployment key here", "`psflow key import FILE`")
    assert public.returncode == 0 and public.stdout.startswith("psflow-ed25519 ")
    assert private.stdout.startswith("-----BEGIN PRIVATE KEY-----") and "whoever has it" in private.stderr
    assert_clean_error(both, "give --public or --private, not both")


def test_import_refuses_what_is_no_key_and_another_key_without_replace(cli, tmp_path: Path) -> None:
    (tmp_path / "junk.pub").write_text("hello\n")
    cli("key", "create")
    own = cli("key", "export", "--public").stdout
    other = {"PSFLOW_CONFIG": str(tmp_path / "other" / "config.toml")}
    cli("key", "create", env=other)
    (tmp_path / "other.pub").write_text(cli("key", "export", env=other).stdout)

    assert_clean_error(cli("key", "import", "missing.pub"), "cannot read key file missing.pub")
    assert_clean_error(cli("key", "import", "junk.pub"), "junk.pub is not a psflow public key")
    assert_clean_error(cli("key", "import", "other.pub"), "add --replace if that is what you want")
    replaced = cli("key", "import", "other.pub", "--replace")
    assert replaced.returncode == 0 and "imported (public only" in replaced.stderr
    assert cli("key", "export").stdout != own


def test_key_sign_needs_something_to_sign_and_the_private_key(cli, store, tmp_path: Path) -> None:
    store.list_jobs()  # the database exists, with no job in it
    cli("key", "create")
    worker = {"PSFLOW_CONFIG": str(tmp_path / "worker" / "config.toml")}
    (tmp_path / "deployment.pub").write_text(cli("key", "export", "--public").stdout)
    cli("key", "import", "deployment.pub", env=worker)

    assert_clean_error(cli("key", "sign"), "give --job JOB or --workflow NAME")
    assert_clean_error(cli("key", "sign", "--job", "nope"), "no job with id 'nope'")
    assert_clean_error(cli("key", "sign", "--workflow", "nope"), "no workflow named 'nope'")
    assert_clean_error(cli("key", "sign", "--job", "nope", env=worker), "holds only the public deployment key")


def test_init_makes_the_key_or_imports_the_one_given(cli, tmp_path: Path) -> None:
    made = cli("init", "--sqlite", "first.sqlite")
    (tmp_path / "deployment.pub").write_text(cli("key", "export").stdout)
    (tmp_path / "junk.pub").write_text("hello\n")
    worker = {"PSFLOW_CONFIG": str(tmp_path / "worker" / "config.toml")}
    imported = cli("init", "--sqlite", "second.sqlite", "--key", "deployment.pub", env=worker)
    refused = cli("init", "--sqlite", "third.sqlite", "--key", "junk.pub", env=worker)

    assert (
        made.returncode == 0
        and "psflow: deployment key " in made.stderr
        and " created (private and public)" in (made.stderr)
    )
    assert imported.returncode == 0 and " imported (public only: this server runs jobs" in imported.stderr
    assert_clean_error(refused, "junk.pub is not a psflow public key")
    assert not (tmp_path / "third.sqlite").exists()  # a key that cannot be used stops init first


def test_exec_env_takes_names_that_are_set(cli, tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text("print('ran')\n")

    assert_clean_error(cli("exec", "flow.py", "--env", "API_TOKEN=s3cret"), "--env 'API_TOKEN=s3cret' is not a")
    assert_clean_error(
        cli("exec", "flow.py", "--env", "PSFLOW_UNSET_TOKEN"),
        "this job needs environment variable PSFLOW_UNSET_TOKEN (psflow exec --env), which is not set here",
    )


def test_job_shows_the_variables_a_job_needs_and_when_it_is_unsigned(cli, store, tmp_path: Path) -> None:
    from psflow.domain import RunOptions
    from psflow.service import exec_requests, running

    (tmp_path / "flow.py").write_text("stop('Waiting')\n")
    os.environ["API_TOKEN"] = "s3cret"
    try:
        request = exec_requests.exec_request(tmp_path / "flow.py", "e-1", ["API_TOKEN"])
    finally:
        del os.environ["API_TOKEN"]
    running.run(store, request, options=RunOptions())
    signed = cli("job", "e-1")
    store.sign_job(store.get_job("e-1"), None, cwd=str(tmp_path))  # as a database writer could
    unsigned = cli("job", "e-1")

    assert "needs     API_TOKEN (from the environment at every attempt, never stored)\n" in signed.stdout
    assert "signed    no" not in signed.stdout and "s3cret" not in signed.stdout
    assert "signed    no: no server runs it until `psflow key sign --job e-1`\n" in unsigned.stdout
