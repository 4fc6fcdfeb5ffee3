"""`psflow cancel`, `retry`, `rm` and `prune`: what each changes, and that bad input changes nothing."""

from __future__ import annotations

import json
import os
import signal
import time

from support.cli import assert_clean_error, job_id_of
from support.database import age, rows_of, snapshot
from support.scripts import COUNTED, counts, detail, start_gated

WAITS = 'with block("Step"):\n    print("step")\nstop("Waiting", reason="approval pending")\n'
FAILS = COUNTED + """
    block "Step":
        bump("Step")
    block "Flaky":
        bump("Flaky")
        if not Path("fixed").exists():
            raise RuntimeError("not yet")
"""


def _jobs(psflow, write, tmp_path) -> None:
    """done (Completed), waits (Waiting, with an input), fails (Failed)."""
    write("done.py", 'with block("Step"):\n    print("done")\n')
    write("waits.py", WAITS)
    write("fails.py", FAILS)
    assert psflow("exec", "done.py", "--job", "done").returncode == 0
    assert psflow("exec", "waits.py", "--job", "waits").returncode == 3
    assert psflow("send", "waits", "approval=alice").returncode == 0
    assert psflow("exec", "fails.py", "--job", "fails").returncode == 1


# ---- cancel -------------------------------------------------------------------------


def test_cancel_makes_a_job_final(psflow, write, tmp_path):
    _jobs(psflow, write, tmp_path)

    result = psflow("cancel", "waits", "--reason", "not needed any more")

    assert result.returncode == 0, result.stderr
    assert "job waits: Cancelled (was Waiting): not needed any more" in result.stderr
    job = detail(psflow, "waits")
    assert (job["status"], job["reason"]) == ("Cancelled", "not needed any more")
    assert "skipped: already Cancelled" in psflow("resume", "--job", "waits").stderr
    assert psflow("resume").stderr.endswith("nothing to do\n")
    assert_clean_error(psflow("exec", "waits.py", "--job", "waits"), "was cancelled")
    assert_clean_error(psflow("send", "waits", "x=1"), "Cancelled")


def test_cancel_a_failed_job_without_a_reason_names_who(psflow, write, tmp_path):
    _jobs(psflow, write, tmp_path)

    assert psflow("cancel", "fails").returncode == 0

    job = detail(psflow, "fails")
    assert job["status"] == "Cancelled" and job["reason"].startswith("cancelled by ")


def test_cancelling_a_completed_or_cancelled_job_changes_nothing(psflow, write, tmp_path):
    _jobs(psflow, write, tmp_path)
    psflow("cancel", "waits")
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("cancel", "done"), "job done is already Completed: cannot cancel it")
    assert_clean_error(psflow("cancel", "waits", "--reason", "again"), "job waits is already Cancelled")
    assert snapshot(psflow.db_url) == before


def test_cancelling_a_running_job_is_refused_while_its_lease_holds(psflow, write, tmp_path):
    runner = start_gated(psflow, write, tmp_path, "busy")
    try:
        before = snapshot(psflow.db_url)
        result = psflow("cancel", "busy")
        after = snapshot(psflow.db_url)
    finally:
        (tmp_path / "gate").touch()
        runner.communicate(timeout=60)
    assert_clean_error(result, "job busy is Running on", "its lease runs out in")
    assert after == before
    assert runner.returncode == 0 and detail(psflow, "busy")["status"] == "Completed"


def test_a_running_job_whose_runner_died_can_be_cancelled(psflow, write, tmp_path):
    runner = start_gated(psflow, write, tmp_path, "orphan", env={"PSFLOW_LEASE_SECONDS": "1"})
    os.kill(runner.pid, signal.SIGKILL)
    runner.communicate(timeout=30)
    time.sleep(1.2)  # its lease runs out

    result = psflow("cancel", "orphan")

    assert result.returncode == 0, result.stderr
    assert "Cancelled (was Running)" in result.stderr
    job = detail(psflow, "orphan")
    assert job["status"] == "Cancelled" and job["lease_until"] is None
    assert [(a["number"], a["outcome"]) for a in job["attempt_history"]] == [(1, "Cancelled")]
    assert job["attempt_history"][0]["ended"] is not None


# ---- retry --------------------------------------------------------------------------


def test_retry_puts_a_failed_job_back_to_waiting(psflow, write, tmp_path):
    _jobs(psflow, write, tmp_path)

    result = psflow("retry", "fails")

    assert result.returncode == 0, result.stderr
    assert "job fails: Waiting (was Failed)" in result.stderr
    job = detail(psflow, "fails")
    assert (job["status"], job["reason"]) == ("Waiting", "retry after: RuntimeError: not yet")
    (tmp_path / "fixed").touch()
    resumed = psflow("resume")  # Waiting by default: it takes the retried job (and `waits`)
    assert "job fails: Completed — attempt 2, 1 block(s) ran, 1 replayed" in resumed.stderr
    assert counts(tmp_path) == {"Flaky": 2, "Step": 1}


def test_retry_of_a_job_that_did_not_fail_changes_nothing(psflow, write, tmp_path):
    _jobs(psflow, write, tmp_path)
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("retry", "done"), "job done is Completed, not Failed")
    assert_clean_error(psflow("retry", "waits"), "job waits is Waiting, not Failed", "psflow resume --job waits")
    assert snapshot(psflow.db_url) == before


# ---- rm -----------------------------------------------------------------------------


def test_rm_deletes_a_job_with_its_attempts_blocks_and_inputs(psflow, write, tmp_path):
    _jobs(psflow, write, tmp_path)
    assert rows_of(psflow.db_url, "waits") == {"psflow_job": 1, "psflow_attempt": 1, "psflow_block": 1, "psflow_signal": 1}
    others = {job_id: rows_of(psflow.db_url, job_id) for job_id in ("done", "fails")}

    result = psflow("rm", "wai")

    assert result.returncode == 0, result.stderr
    assert "deleted job waits (Waiting)" in result.stderr
    assert "1 job(s), 1 attempt(s), 1 block run(s), 1 input(s)" in result.stderr
    assert rows_of(psflow.db_url, "waits") == dict.fromkeys(("psflow_job", "psflow_attempt", "psflow_block", "psflow_signal"), 0)
    assert {job_id: rows_of(psflow.db_url, job_id) for job_id in ("done", "fails")} == others
    assert_clean_error(psflow("job", "waits"), "no job with id 'waits'")


def test_rm_of_several_jobs_is_all_or_nothing(psflow, write, tmp_path):
    _jobs(psflow, write, tmp_path)
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("rm", "done", "nope"), "no job with id 'nope'")
    assert snapshot(psflow.db_url) == before
    assert psflow("rm", "done", "fails").returncode == 0
    assert [job["id"] for job in json.loads(psflow("jobs", "--json").stdout)] == ["waits"]


def test_rm_of_a_running_job_is_refused_unless_forced(psflow, write, tmp_path):
    runner = start_gated(psflow, write, tmp_path, "busy")
    try:
        before = snapshot(psflow.db_url)
        refused = psflow("rm", "busy")
        after = snapshot(psflow.db_url)
        forced = psflow("rm", "busy", "--force")
    finally:
        (tmp_path / "gate").touch()
        runner.communicate(timeout=60)
    assert_clean_error(refused, "job busy is Running on", "--force")
    assert after == before
    assert forced.returncode == 0, forced.stderr
    # Its runner could not record its next block: the attempt ended, and the job stays deleted.
    assert runner.returncode != 0
    assert rows_of(psflow.db_url, "busy") == dict.fromkeys(("psflow_job", "psflow_attempt", "psflow_block", "psflow_signal"), 0)


# ---- prune --------------------------------------------------------------------------


def _old_and_new(psflow, write, tmp_path) -> None:
    """Old (40 days) and new jobs in Completed, Cancelled, Failed and Waiting."""
    write("done.py", 'with block("Step"):\n    print("done")\n')
    write("waits.py", WAITS)
    write("fails.py", 'raise SystemExit("broken")\n')
    for prefix in ("old", "new"):
        psflow("exec", "done.py", "--job", f"{prefix}-done")
        psflow("exec", "waits.py", "--job", f"{prefix}-cancelled")
        psflow("cancel", f"{prefix}-cancelled")
        psflow("exec", "fails.py", "--job", f"{prefix}-failed")
        psflow("exec", "waits.py", "--job", f"{prefix}-waits")
    age(psflow.db_url, ["old-done", "old-cancelled", "old-failed", "old-waits"], days=40)


def _ids(psflow) -> set[str]:
    return {job["id"] for job in json.loads(psflow("jobs", "--json").stdout)}


def test_prune_deletes_old_final_jobs_only(psflow, write, tmp_path):
    _old_and_new(psflow, write, tmp_path)

    result = psflow("prune", "--older-than", "30d")

    assert result.returncode == 0, result.stderr
    assert "deleted 2 job(s) (Completed or Cancelled, last updated more than 30d ago)" in result.stderr
    assert "2 job(s), 2 attempt(s), 2 block run(s), 0 input(s)" in result.stderr
    assert _ids(psflow) == {"new-done", "new-cancelled", "new-failed", "new-waits", "old-failed", "old-waits"}
    assert rows_of(psflow.db_url, "old-done")["psflow_block"] == 0


def test_prune_a_chosen_status(psflow, write, tmp_path):
    _old_and_new(psflow, write, tmp_path)

    assert psflow("prune", "--status", "Failed", "--older-than", "39d").returncode == 0
    assert "old-failed" not in _ids(psflow) and "old-done" in _ids(psflow)
    assert psflow("prune", "-s", "Completed", "--older-than", "41d").returncode == 0
    assert "old-done" in _ids(psflow)  # 40 days old: not older than 41d


def test_prune_dry_run_lists_and_changes_nothing(psflow, write, tmp_path):
    _old_and_new(psflow, write, tmp_path)
    before = snapshot(psflow.db_url)

    result = psflow("prune", "--older-than", "720h", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert snapshot(psflow.db_url) == before
    assert {line.split()[0] for line in result.stdout.splitlines()[1:]} == {"old-done", "old-cancelled"}
    assert "would delete 2 job(s)" in result.stderr and "nothing was deleted (--dry-run)" in result.stderr


def test_prune_with_a_bad_duration_changes_nothing(psflow, write, tmp_path):
    _old_and_new(psflow, write, tmp_path)
    before = snapshot(psflow.db_url)

    for text in ("30", "abc", "-1d", "30x", "d", "1.d", ""):
        assert_clean_error(psflow("prune", "--older-than", text), "--older-than takes a duration like 30d", repr(text))
    assert snapshot(psflow.db_url) == before


def test_prune_refuses_running_jobs_and_needs_an_age(psflow, write, tmp_path):
    _old_and_new(psflow, write, tmp_path)
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("prune", "--status", "Running", "--older-than", "1d"), "never deletes Running jobs")
    missing = psflow("prune")
    assert missing.returncode == 2 and "--older-than" in missing.stderr
    assert snapshot(psflow.db_url) == before


# ---- unknown and ambiguous ids: every command ---------------------------------------


def test_unknown_or_ambiguous_id_changes_nothing(psflow, write, tmp_path):
    _jobs(psflow, write, tmp_path)
    write("more.py", WAITS)
    psflow("exec", "more.py", "--job", "failing")  # "fai" is now ambiguous
    before = snapshot(psflow.db_url)

    for name, *options in [("job",), ("logs",), ("rerun", "--only", "Step"), ("cancel",), ("retry",), ("rm",)]:
        assert_clean_error(psflow(name, "nope", *options), "no job with id 'nope'")
        assert_clean_error(psflow(name, "fai", *options), "job id prefix 'fai' is ambiguous")
    assert snapshot(psflow.db_url) == before


def test_a_cancelled_job_is_left_alone_by_a_worker(psflow, write, tmp_path):
    _jobs(psflow, write, tmp_path)
    psflow("cancel", "waits")

    result = psflow("worker", "--once", timeout=60)

    assert result.returncode == 0, result.stderr
    assert detail(psflow, "waits")["status"] == "Cancelled"


def test_a_database_that_refuses_the_change_is_a_one_line_error(psflow, write, tmp_path, db_url):
    """A refused UPDATE (here: a trigger) reaches the user as psflow's message, never a peewee traceback."""
    write("fail.py", 'with block("A"):\n    raise RuntimeError("boom")\n')
    job_id = job_id_of(psflow("exec", "fail.py"))
    _refuse_job_updates(db_url)

    result = psflow("cancel", job_id)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "peewee" not in result.stderr
    assert "psflow: error: cannot use database" in result.stderr and "no changes to jobs" in result.stderr


def _refuse_job_updates(db_url: str) -> None:
    from playhouse.db_url import connect

    db = connect(db_url)
    try:
        if db_url.startswith("sqlite"):
            db.execute_sql(
                "CREATE TRIGGER refuse BEFORE UPDATE ON psflow_job BEGIN SELECT RAISE(ABORT, 'no changes to jobs'); END"
            )
        else:
            db.execute_sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no changes to jobs'; END $$ "
                "LANGUAGE plpgsql"
            )
            db.execute_sql("CREATE TRIGGER refuse BEFORE UPDATE ON psflow_job FOR EACH ROW EXECUTE FUNCTION refuse()")
    finally:
        db.close()
