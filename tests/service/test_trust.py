"""What happens to a job's signature as the job goes on (psflow.service.running with psflow.service.trust),
in this process: a changed script file is signed anew where the private key is and left as signed where
only the public key is; `resume --latest` signs anew, so it needs the private key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from psflow.domain import RunOptions
from psflow.errors import EXIT_UNTRUSTED
from psflow.service import running, trust
from psflow.service.workflows import register
from psflow.signing import keys_folder, public_key
from psflow.store import Store
from support.running import resume_one, run
from support.scripts import WAITS, write_script, write_versioned


@pytest.fixture
def public_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """public_only(): from now on this process is a server that holds only the deployment's public key."""

    def switch() -> None:
        line = public_key().line()
        monkeypatch.setenv("PSFLOW_CONFIG", str(tmp_path / "worker" / "config.toml"))
        keys_folder().mkdir(parents=True)
        (keys_folder() / "deployment.pub").write_text(line + "\n")

    return switch


def test_a_changed_file_becomes_the_signed_snapshot_where_the_private_key_is(store: Store, tmp_path: Path) -> None:
    script = write_script(tmp_path, "flow.py", WAITS)
    run(store, script, "j")
    script.write_text(WAITS.replace('print("step")', 'print("step v2")'))

    resume_one(store, "j")

    assert store.job_source("j") == script.read_text()
    trust.verified_job(store, store.get_job("j"))  # the new snapshot and hash carry a valid signature


def test_a_public_key_server_runs_the_changed_file_and_leaves_the_signed_snapshot(
    store: Store, tmp_path: Path, public_only
) -> None:
    script = write_script(tmp_path, "flow.py", WAITS)
    run(store, script, "j")
    signed = store.get_job("j")
    script.write_text(WAITS.replace('print("step")', 'print("step v2")'))
    public_only()

    result = resume_one(store, "j")
    os.remove(script)
    from_snapshot = resume_one(store, "j")

    assert (result.status, result.attempt, result.error) == ("Waiting", 2, None)
    assert store.get_job("j").signature == signed.signature and store.job_source("j") == WAITS
    assert (from_snapshot.attempt, from_snapshot.error) == (3, None)


def test_latest_moves_a_job_and_signs_it_only_where_the_private_key_is(
    store: Store, tmp_path: Path, public_only
) -> None:
    script = write_versioned(tmp_path, "v1")
    register(store, "nightly", script)
    run(store, "nightly", "n")
    write_versioned(tmp_path, "v2")
    register(store, "nightly", script)
    creator = os.environ["PSFLOW_CONFIG"]
    public_only()

    refused = resume_one(store, "n", latest=True)
    os.environ["PSFLOW_CONFIG"] = creator
    moved = resume_one(store, "n", latest=True)

    assert refused.exit_code == 2 and "holds only the public deployment key" in (refused.error or "")
    assert (moved.error, store.get_job("n").workflow_version) == (None, 2)
    trust.verified_job(store, store.get_job("n"))


def test_an_unsigned_job_is_not_claimed_and_keeps_its_state(store: Store, tmp_path: Path) -> None:
    run(store, write_script(tmp_path, "flow.py", WAITS), "j")
    before = store.get_job("j")
    store.sign_job(before, None, cwd=before.cwd or "")  # as a database writer could

    result = running.resume_one(store, store.get_job("j"), RunOptions())

    assert (result.exit_code, result.attempt) == (EXIT_UNTRUSTED, 1)
    assert "refused to run job j: it has no signature" in (result.error or "")
    assert store.get_job("j").attempts == 1 and store.get_job("j").status == before.status
