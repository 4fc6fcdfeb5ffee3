"""`psflow cancel`, `retry`, `rm` and `prune` through the real command: what each prints, its exit code,
and the one-line error every bad input gets. The jobs are set up in this process (support/running.py);
what each command changes, and that a refusal changes nothing, is tested in-process in
tests/service/test_control.py.
"""

from __future__ import annotations

import time
from pathlib import Path

from psflow.service import control
from psflow.store import Store, open_store
from support.cli import assert_clean_error
from support.clock import FakeClock
from support.database import refuse_job_updates, snapshot
from support.running import done_waits_fails, held_elsewhere, run
from support.scripts import DONE, WAITS

DAY = 86400.0


def test_cancel_says_what_it_did(psflow, store: Store, tmp_path: Path) -> None:
    done_waits_fails(store, tmp_path)

    result = psflow("cancel", "waits", "--reason", "not needed any more")

    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "psflow: job waits: Cancelled (was Waiting): not needed any more\n"
    assert store.get_job("waits").status == "Cancelled"
    assert_clean_error(psflow("exec", "waits.py", "--job", "waits"), "job waits was cancelled")
    assert_clean_error(psflow("send", "waits", "x=1"), "job waits is Cancelled: it takes no more input")


def test_cancelling_a_final_or_running_job_is_a_clean_error(psflow, store: Store, tmp_path: Path) -> None:
    done_waits_fails(store, tmp_path)
    held_elsewhere(store, "busy")
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("cancel", "done"), "job done is already Completed: cannot cancel it")
    assert_clean_error(psflow("cancel", "busy"), "job busy is Running on server2 (pid 4242)", "its lease runs out in")
    assert snapshot(psflow.db_url) == before


def test_retry_says_what_it_did_and_resume_runs_the_job(psflow, store: Store, tmp_path: Path) -> None:
    done_waits_fails(store, tmp_path)

    result = psflow("retry", "fails")
    (tmp_path / "fixed").touch()
    resumed = psflow("resume")

    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == (
        "psflow: job fails: Waiting (was Failed): `psflow resume --job fails` (or the next `psflow resume`) "
        "runs it; its completed blocks are replayed\n"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "psflow: job fails: Completed — attempt 2, 1 block(s) ran, 1 replayed\n" in resumed.stderr


def test_retrying_a_job_that_did_not_fail_is_a_clean_error(psflow, store: Store, tmp_path: Path) -> None:
    done_waits_fails(store, tmp_path)
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("retry", "waits"), "job waits is Waiting, not Failed", "psflow resume --job waits")
    assert snapshot(psflow.db_url) == before


def test_rm_says_what_it_deleted(psflow, store: Store, tmp_path: Path) -> None:
    done_waits_fails(store, tmp_path)

    result = psflow("rm", "wai")

    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == (
        "psflow: deleted job waits (Waiting)\n"
        "psflow: rows deleted: 1 job(s), 1 attempt(s), 1 block run(s), 1 input(s)\n"
    )
    assert store.get_job("waits") is None


def test_rm_of_an_unknown_or_running_job_is_a_clean_error(psflow, store: Store, tmp_path: Path) -> None:
    done_waits_fails(store, tmp_path)
    held_elsewhere(store, "busy")
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("rm", "done", "nope"), "no job with id 'nope'")
    assert_clean_error(psflow("rm", "busy"), "job busy is Running on server2", "--force")
    assert snapshot(psflow.db_url) == before


def _old_and_new(store: Store, tmp_path: Path) -> None:
    """A Completed and a Cancelled job last changed 40 days ago, and a new one of each."""
    (tmp_path / "done.py").write_text(DONE)
    (tmp_path / "waits.py").write_text(WAITS)
    with open_store(store.url, clock=FakeClock(time.time() - 40 * DAY)) as before:
        run(before, tmp_path / "done.py", "old-done")
        run(before, tmp_path / "waits.py", "old-cancelled")
        control.cancel(before, "old-cancelled")
    run(store, tmp_path / "done.py", "new-done")
    run(store, tmp_path / "waits.py", "new-cancelled")
    control.cancel(store, "new-cancelled")


def test_prune_says_what_it_deleted(psflow, store: Store, tmp_path: Path) -> None:
    _old_and_new(store, tmp_path)

    result = psflow("prune", "--older-than", "30d")

    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == (
        "psflow: deleted 2 job(s) (Completed or Cancelled, last updated more than 30d ago); "
        "rows deleted: 2 job(s), 2 attempt(s), 2 block run(s), 0 input(s)\n"
    )
    assert {job.id for job in store.list_jobs()} == {"new-done", "new-cancelled"}


def test_prune_dry_run_prints_the_jobs_and_deletes_nothing(psflow, store: Store, tmp_path: Path) -> None:
    _old_and_new(store, tmp_path)
    before = snapshot(psflow.db_url)

    result = psflow("prune", "-s", "Completed", "-s", "Cancelled", "--older-than", "720h", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert snapshot(psflow.db_url) == before
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "SCRIPT", "STATUS", "WAITS", "FOR", "ATTEMPTS", "UPDATED", "HOST"]
    assert {row.split()[0] for row in rows} == {"old-done", "old-cancelled"}
    assert result.stderr == (
        "psflow: would delete 2 job(s) (Completed or Cancelled, last updated more than 720h ago); "
        "nothing was deleted (--dry-run)\n"
    )


def test_bad_prune_is_a_clean_error(psflow, store: Store, tmp_path: Path) -> None:
    _old_and_new(store, tmp_path)
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("prune", "--older-than", "30x"), "--older-than takes a duration like 30d", "'30x'")
    assert_clean_error(psflow("prune", "--status", "Running", "--older-than", "1d"), "never deletes Running jobs")
    missing = psflow("prune")
    assert missing.returncode == 2 and "Missing option '--older-than'" in missing.stderr
    assert snapshot(psflow.db_url) == before


def test_a_database_that_refuses_the_change_is_a_one_line_error(psflow, store: Store, tmp_path: Path) -> None:
    """A refused UPDATE (here: a trigger) reaches the user as psflow's message, never a peewee traceback."""
    done_waits_fails(store, tmp_path)
    refuse_job_updates(psflow.db_url)

    result = psflow("cancel", "fails")

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "peewee" not in result.stderr
    assert "psflow: error: cannot use database" in result.stderr and "no changes to jobs" in result.stderr


def test_prune_on_a_terminal_shows_its_progress(psflow, store: Store, tmp_path: Path) -> None:
    from support.terminal import STYLE, on_terminal

    (tmp_path / "done.py").write_text(DONE)
    with open_store(store.url, clock=FakeClock(time.time() - 40 * DAY)) as before:
        for number in range(4):
            run(before, tmp_path / "done.py", f"old-{number}")

    code, terminal, _ = on_terminal(psflow.db_url, tmp_path, "prune", "--older-than", "30d")

    shown = STYLE.sub("", terminal)
    assert code == 0, shown
    assert "psflow: deleting old jobs" in shown  # the bar (it is gone once done)
    assert "psflow: deleted 4 job(s) (Completed or Cancelled, last updated more than 30d ago)" in shown
    assert store.list_jobs() == []
