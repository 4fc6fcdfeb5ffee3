"""Which source a job's next attempt runs (psflow.service.sources), through `resume` in-process on every
backend: a workflow's job keeps the version it started with unless `latest` moves it; an ad-hoc job runs
its script file where it is, else the snapshot stored with the job. What `resume` says about it is the
result's note (printed by `psflow resume` after the job's line).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from psflow.service import history
from psflow.service.workflows import register
from psflow.store import Store
from support.running import resume, run
from support.scripts import write_versioned


def _version(store: Store, job_id: str) -> tuple[int, str]:
    detail = history.job_detail(store, job_id)
    return detail["workflow_version"], detail["script"]


def test_a_job_keeps_its_version_after_a_new_registration(
    store: Store, tmp_path: Path, elsewhere: Path, capsys
) -> None:
    script = write_versioned(tmp_path, "v1")
    register(store, "nightly", script)
    started = run(store, "nightly", "n1")
    write_versioned(tmp_path, "v2")
    register(store, "nightly", script)
    (elsewhere / "n1.go").touch()
    capsys.readouterr()

    [resumed] = resume(store)

    assert (started.status, resumed.status, resumed.exit_code) == ("Waiting", "Completed", 0)
    assert capsys.readouterr().out == "running v1, prepared by v1\n"
    assert resumed.note == "ran workflow nightly v1; v2 is the newest (`psflow resume --latest` moves it there)"
    assert _version(store, "n1") == (1, "<workflow nightly v1>")


def test_resume_runs_the_stored_source_where_no_file_ever_was(
    store: Store, tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    script = write_versioned(tmp_path, "v1")
    register(store, "nightly", script)
    script.unlink()
    started = run(store, "nightly", "n1")
    third = tmp_path / "third"
    third.mkdir()
    (Path(store.get_job("n1").cwd) / "n1.go").touch()  # every attempt runs in the folder of the first
    monkeypatch.chdir(third)
    capsys.readouterr()

    [resumed] = resume(store)

    assert started.status == "Waiting"
    assert (resumed.status, resumed.attempt, resumed.ran, resumed.replayed) == ("Completed", 2, 1, 1)
    assert capsys.readouterr().out == "running v1, prepared by v1\n"
    assert list(third.iterdir()) == []
    assert [path.name for path in elsewhere.iterdir()] == ["n1.go"]  # where attempt 1 ran
    assert any((tmp_path / "cache" / "psflow" / "sources").glob("*.pyc"))  # cached in the cache folder


def test_resume_latest_moves_workflow_jobs_and_says_so_per_job(
    store: Store, write, tmp_path: Path, elsewhere: Path, capsys
) -> None:
    script = write_versioned(tmp_path, "v1")
    register(store, "nightly", script)
    for job_id in ("n1", "n2"):
        run(store, "nightly", job_id)
    run(store, write("adhoc.py", "stop('Waiting')\n"), "adhoc")
    write_versioned(tmp_path, "v2")
    register(store, "nightly", script)
    (elsewhere / "n1.go").touch()
    capsys.readouterr()

    results = {result.job_id: result for result in resume(store, latest=True)}

    assert {job_id: result.status for job_id, result in results.items()} == {
        "n1": "Completed",
        "n2": "Waiting",
        "adhoc": "Waiting",
    }
    assert results["n1"].note == results["n2"].note == "moved from workflow nightly v1 to v2 (--latest)"
    assert results["adhoc"].note is None
    # Prepare completed under v1 and is replayed: blocks are matched by name.
    assert "running v2, prepared by v1\n" in capsys.readouterr().out
    for job_id in ("n1", "n2"):
        assert _version(store, job_id) == (2, "<workflow nightly v2>")
    [again] = resume(store, "n2", latest=True)
    assert again.note is None  # already on the newest


def test_an_ad_hoc_job_runs_its_edited_file_and_keeps_the_new_snapshot(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    script = write_versioned(tmp_path, "v1")
    run(store, script, "a1")
    write_versioned(tmp_path, "v2")
    capsys.readouterr()

    [edited] = resume(store)
    edited_out = capsys.readouterr().out
    script.unlink()
    shutil.rmtree(tmp_path / "__pycache__")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (Path(store.get_job("a1").cwd) / "a1.go").touch()  # every attempt runs in the folder of the first
    monkeypatch.chdir(elsewhere)
    [gone] = resume(store)

    assert edited_out == "running v2, prepared by v1\n"
    assert edited.note == "the script changed since the last attempt; blocks are matched by name"
    # The snapshot is the source that ran last (v2), run where the file never was.
    assert (gone.status, gone.exit_code) == ("Completed", 0)
    assert capsys.readouterr().out == "running v2, prepared by v1\n"
    assert gone.note == "script file not found here: ran the source stored with the job"
    assert not (tmp_path / "__pycache__").exists()  # no cache written next to the missing file
    assert list(elsewhere.iterdir()) == []
