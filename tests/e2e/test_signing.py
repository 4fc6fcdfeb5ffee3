"""Forged rows, through the real `psflow`: whoever can write the database can change job data and
statuses, not run code on a server. Each attack is refused with one line and exit 4, and runs nothing."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from support.cli import start
from support.database import forge, snapshot
from support.scripts import write_script

pytestmark = pytest.mark.every_backend

UNTRUSTED = 4

WAITS = """
    import sys
    from pathlib import Path
    with block("Step"):
        Path("ran").write_text(" ".join(sys.argv[1:]))
    stop("Waiting", reason="until resumed")
"""
EVIL = "from pathlib import Path\nPath('pwned').write_text('yes')\n"


def _waiting_job(psflow, tmp_path: Path, *args: str, job_id: str = "flow-1") -> Path:
    script = write_script(tmp_path, "flow.py", WAITS)
    started = psflow("exec", "flow.py", "--job", job_id, *args)
    assert started.returncode == 3, started.stderr
    return script


def _refused(result, *fragments: str) -> None:
    assert result.returncode == UNTRUSTED, result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_job_is_signed_when_created_and_runs_again_unchanged(psflow, tmp_path: Path) -> None:
    _waiting_job(psflow, tmp_path, "a")

    again = psflow("resume", "--job", "flow-1")

    assert again.returncode == 0 and "attempt 2" in again.stderr, again.stderr
    assert json.loads(psflow("job", "flow-1", "--json").stdout)["signed"] is True


def test_an_edited_snapshot_is_refused_where_the_file_is_gone(psflow, tmp_path: Path) -> None:
    script = _waiting_job(psflow, tmp_path)
    script.unlink()
    forge(psflow.db_url, "psflow_job", {"id": "flow-1"}, source=EVIL)

    result = psflow("resume", "--job", "flow-1")

    _refused(result, "refused to run job flow-1: its signature does not match", "psflow key sign --job flow-1")
    assert not (tmp_path / "pwned").exists()


def test_a_forged_script_path_is_refused(psflow, tmp_path: Path) -> None:
    _waiting_job(psflow, tmp_path)
    write_script(tmp_path, "other.py", EVIL)
    forge(psflow.db_url, "psflow_job", {"id": "flow-1"}, script=str(tmp_path / "other.py"))

    _refused(psflow("resume", "--job", "flow-1"), "refused to run job flow-1")
    assert not (tmp_path / "pwned").exists()


def test_forged_arguments_are_refused_and_nothing_is_written(psflow, tmp_path: Path) -> None:
    _waiting_job(psflow, tmp_path, "--day", "1")
    forge(psflow.db_url, "psflow_job", {"id": "flow-1"}, args=json.dumps(["--day", "1", "--delete-all"]))
    before = snapshot(psflow.db_url)

    resumed = psflow("resume", "--job", "flow-1")
    executed = psflow("exec", "flow.py", "--job", "flow-1")

    _refused(resumed, "refused to run job flow-1")
    _refused(executed, "error: refused to run job flow-1")
    assert snapshot(psflow.db_url) == before


def test_a_missing_signature_is_never_trusted_until_an_admin_signs_the_job(psflow, tmp_path: Path) -> None:
    _waiting_job(psflow, tmp_path)
    forge(psflow.db_url, "psflow_job", {"id": "flow-1"}, signature=None)

    refused = psflow("resume", "--job", "flow-1")
    signed = psflow("key", "sign", "--job", "flow-1")
    resumed = psflow("resume", "--job", "flow-1")

    _refused(refused, "refused to run job flow-1: it has no signature")
    assert signed.returncode == 0 and f"signed job flow-1: runs {tmp_path / 'flow.py'}" in signed.stderr
    assert resumed.returncode == 0, resumed.stderr


def test_a_worker_reports_a_refused_job_once_and_runs_it_once_an_admin_signs_it(psflow, tmp_path: Path) -> None:
    write_script(tmp_path, "flow.py", 'if job.attempt == 1:\n    stop("Waiting")\nprint("ran attempt", job.attempt)\n')
    assert psflow("exec", "flow.py", "--job", "flow-1").returncode == 3
    forge(psflow.db_url, "psflow_job", {"id": "flow-1"}, signature=None)

    worker = start(psflow.db_url, tmp_path, "worker", "--poll", "0.1")
    try:
        first = ""
        while "job flow-1" not in first:  # the worker's banner, then what it did with the job
            first += worker.stderr.readline()
        time.sleep(2)  # 20 more polls see the job unchanged
        signed = psflow("key", "sign", "--job", "flow-1")
        deadline = time.monotonic() + 60
        while json.loads(psflow("job", "flow-1", "--json").stdout)["status"] != "Completed":
            assert time.monotonic() < deadline and worker.poll() is None, "the signed job never ran"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, rest = worker.communicate(timeout=60)

    assert "refused to run job flow-1: it has no signature" in first, first + rest
    assert (first + rest).count("refused to run job flow-1") == 1, first + rest
    assert signed.returncode == 0, signed.stderr


def test_a_job_signed_by_another_key_is_refused(psflow, tmp_path: Path) -> None:
    _waiting_job(psflow, tmp_path)
    other = {"PSFLOW_CONFIG": str(tmp_path / "other" / "config.toml")}
    assert psflow("key", "create", env=other).returncode == 0

    result = psflow("resume", "--job", "flow-1", env=other)

    _refused(result, "it is signed by key ", ", this server trusts key ", "`psflow key import`")


def test_an_edited_workflow_version_is_refused(psflow, tmp_path: Path) -> None:
    write_script(tmp_path, "nightly.py", WAITS)
    assert psflow("register", "nightly", "nightly.py").returncode == 0
    (tmp_path / "nightly.py").unlink()
    assert psflow("exec", "nightly", "--job", "n-1").returncode == 3
    forge(psflow.db_url, "psflow_workflow", {"name": "nightly", "version": 1}, source=EVIL)
    forge(psflow.db_url, "psflow_job", {"id": "n-1"}, source=EVIL)

    new_job = psflow("exec", "nightly")
    old_job = psflow("resume", "--job", "n-1")

    _refused(new_job, "refused to run workflow nightly v1", "psflow key sign --workflow nightly")
    _refused(old_job, "refused to run job n-1")
    assert not (tmp_path / "pwned").exists()


def test_a_server_with_the_public_key_only_runs_jobs_and_creates_none(psflow, tmp_path: Path) -> None:
    _waiting_job(psflow, tmp_path)
    exported = psflow("key", "export", "--public")
    (tmp_path / "deployment.pub").write_text(exported.stdout)
    worker = {"PSFLOW_CONFIG": str(tmp_path / "worker" / "config.toml")}
    imported = psflow("key", "import", "deployment.pub", env=worker)

    resumed = psflow("resume", "--job", "flow-1", env=worker)
    created = psflow("exec", "flow.py", env=worker)

    assert imported.returncode == 0 and "(public only: this server runs jobs" in imported.stderr, imported.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert created.returncode == 2 and "holds only the public deployment key" in created.stderr
    assert not (tmp_path / "worker" / "keys" / "deployment.key").exists()


def test_an_environment_variable_is_named_not_stored_and_needed_at_every_attempt(psflow, tmp_path: Path) -> None:
    write_script(
        tmp_path,
        "flow.py",
        """
        import os
        from pathlib import Path
        Path(f"token-{job.attempt}").write_text(os.environ["API_TOKEN"])
        stop("Waiting")
    """,
    )

    started = psflow("exec", "flow.py", "--job", "e-1", "--env", "API_TOKEN", env={"API_TOKEN": "s3cret-1"})
    missing = psflow("resume", "--job", "e-1")
    resumed = psflow("resume", "--job", "e-1", env={"API_TOKEN": "s3cret-2"})

    assert started.returncode == 3, started.stderr
    assert (
        missing.returncode == 1 and "job e-1: not run: job e-1 needs environment variable API_TOKEN" in missing.stderr
    )
    assert resumed.returncode == 0, resumed.stderr
    assert [(tmp_path / f"token-{n}").read_text() for n in (1, 2)] == ["s3cret-1", "s3cret-2"]
    assert "s3cret" not in repr(snapshot(psflow.db_url))
    assert json.loads(psflow("job", "e-1", "--json").stdout)["env"] == ["API_TOKEN"]
