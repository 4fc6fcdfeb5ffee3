"""psflow.service.control in-process, on every backend: what cancel, retry, rm and prune change, and
that whatever they refuse changes nothing. Time comes from a fake clock: a lease runs out, a job
gets old, by moving the clock. What the commands print is in tests/cli and tests/e2e/test_lifecycle.py.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path

import pytest

from psflow.domain import JobStatus
from psflow.errors import AmbiguousJob, StoreError, UnknownJob, UsageError
from psflow.service import control, history, inputs, running, transcripts
from psflow.service.due import due_jobs
from psflow.service.history import job_detail
from psflow.store import Store
from support.checkpoints import GATED, at
from support.clock import FakeClock
from support.database import refuse_job_updates, rows_of, snapshot
from support.running import done_waits_fails, held_elsewhere, resume, resume_one, run
from support.scripts import DONE, WAITS, counts

DAY = 86400.0
NO_ROWS = dict.fromkeys(("psflow_job", "psflow_attempt", "psflow_block", "psflow_signal"), 0)


@pytest.fixture
def three(store: Store, tmp_path: Path) -> Store:
    """done (Completed), waits (Waiting, with an input), fails (Failed until the file `fixed` exists)."""
    done_waits_fails(store, tmp_path)
    return store


def _status(store: Store, job_id: str) -> tuple[str, str | None]:
    job = store.get_job(job_id)
    return job.status, job.reason


# ---- cancel -------------------------------------------------------------------------


def test_cancel_makes_a_job_final(three: Store, write) -> None:
    change = control.cancel(three, "waits", reason="not needed any more")

    assert change == control.Change("waits", "Waiting", "Cancelled", "not needed any more")
    assert _status(three, "waits") == ("Cancelled", "not needed any more")
    assert resume_one(three, "waits").note == "skipped: already Cancelled"
    assert resume(three) == []  # no Waiting job is left: nothing to do
    with pytest.raises(UsageError, match="job waits was cancelled; start a new job instead"):
        run(three, Path("waits.py"), "waits")
    with pytest.raises(UsageError, match="job waits is Cancelled: it takes no more input"):
        inputs.send(three, "waits", {"x": 1})


def test_cancel_without_a_reason_names_who_cancelled(three: Store) -> None:
    change = control.cancel(three, "fails")

    assert change.status_before == "Failed"
    status, reason = _status(three, "fails")
    assert status == "Cancelled" and reason.startswith("cancelled by ") and reason == change.reason


def test_cancelling_a_completed_or_cancelled_job_changes_nothing(three: Store, db_url: str) -> None:
    control.cancel(three, "waits")
    before = snapshot(db_url)

    with pytest.raises(UsageError, match=r"^job done is already Completed: cannot cancel it$"):
        control.cancel(three, "done")
    with pytest.raises(UsageError, match=r"^job waits is already Cancelled: cannot cancel it$"):
        control.cancel(three, "waits", reason="again")
    assert snapshot(db_url) == before


def test_cancelling_a_running_job_is_refused_while_its_lease_holds(store: Store, db_url: str, clock: FakeClock) -> None:
    held_elsewhere(store, "busy")
    clock.advance(50)
    before = snapshot(db_url)

    with pytest.raises(UsageError) as refused:
        control.cancel(store, "busy")

    assert str(refused.value) == (
        "job busy is Running on server2 (pid 4242); its lease runs out in 10s if that runner is gone: "
        "psflow cannot cancel it while it runs; wait for it to end"
    )
    assert snapshot(db_url) == before


def test_a_running_job_carries_on_after_a_refused_cancel(store: Store, write, db_url: str) -> None:
    write("gated.py", GATED)
    refusals: list[str] = []

    def cancel_now() -> None:
        before = snapshot(db_url)
        with pytest.raises(UsageError, match=r"job busy is Running on .*its lease runs out in") as refused:
            control.cancel(store, "busy")
        refusals.append(str(refused.value))
        assert snapshot(db_url) == before

    with at("gated", cancel_now) as reached:
        result = run(store, Path("gated.py"), "busy")

    assert reached == ["gated"] and len(refusals) == 1
    assert (result.status, result.exit_code) == ("Completed", 0)
    assert _status(store, "busy") == ("Completed", None)


def test_a_running_job_whose_runner_died_can_be_cancelled(store: Store, clock: FakeClock) -> None:
    held_elsewhere(store, "orphan")
    clock.advance(61)  # its runner stopped renewing the lease a minute ago

    change = control.cancel(store, "orphan")

    assert (change.status_before, change.status) == ("Running", "Cancelled")
    job = job_detail(store, "orphan")
    assert job["status"] == "Cancelled" and job["lease_until"] is None
    assert [(a["number"], a["outcome"]) for a in job["attempt_history"]] == [(1, "Cancelled")]
    assert job["attempt_history"][0]["ended"] is not None


# ---- retry --------------------------------------------------------------------------


def test_retry_puts_a_failed_job_back_to_waiting(three: Store, tmp_path: Path) -> None:
    change = control.retry(three, "fails")

    assert (change.job_id, change.status_before, change.status) == ("fails", "Failed", "Waiting")
    assert _status(three, "fails") == ("Waiting", "retry after: RuntimeError: not yet")
    (tmp_path / "fixed").touch()
    resumed = {result.job_id: result for result in resume(three)}  # Waiting: the retried job (and `waits`)
    done = resumed["fails"]
    assert (done.status, done.attempt, done.ran, done.replayed) == ("Completed", 2, 1, 1)
    assert counts(tmp_path) == {"Flaky": 2, "Step": 1}


def test_retry_of_a_job_that_did_not_fail_changes_nothing(three: Store, db_url: str) -> None:
    before = snapshot(db_url)

    with pytest.raises(UsageError, match=r"^job done is Completed, not Failed: retry is for failed jobs$"):
        control.retry(three, "done")
    with pytest.raises(UsageError) as waiting:
        control.retry(three, "waits")
    assert str(waiting.value) == (
        "job waits is Waiting, not Failed: retry is for failed jobs (`psflow resume --job waits` runs it)"
    )
    assert snapshot(db_url) == before


# ---- rm -----------------------------------------------------------------------------


def test_rm_deletes_a_job_with_its_attempts_blocks_and_inputs(three: Store, db_url: str) -> None:
    assert rows_of(db_url, "waits") == {"psflow_job": 1, "psflow_attempt": 1, "psflow_block": 1, "psflow_signal": 1}
    others = {job_id: rows_of(db_url, job_id) for job_id in ("done", "fails")}

    removal = control.remove(three, ["wai"])

    assert [(job["id"], job["status"]) for job in removal.jobs] == [("waits", "Waiting")]
    assert removal.counts == {"jobs": 1, "attempts": 1, "blocks": 1, "inputs": 1}
    assert rows_of(db_url, "waits") == NO_ROWS
    assert {job_id: rows_of(db_url, job_id) for job_id in ("done", "fails")} == others
    with pytest.raises(UnknownJob, match="no job with id 'waits'"):
        job_detail(three, "waits")


def test_rm_of_several_jobs_is_all_or_nothing(three: Store, db_url: str) -> None:
    before = snapshot(db_url)

    with pytest.raises(UnknownJob, match="no job with id 'nope'"):
        control.remove(three, ["done", "nope"])
    assert snapshot(db_url) == before
    assert [job["id"] for job in control.remove(three, ["done", "fails", "done"]).jobs] == ["done", "fails"]
    assert [job["id"] for job in history.jobs(three)] == ["waits"]


def test_rm_of_a_running_job_is_refused_unless_forced(store: Store, write, db_url: str) -> None:
    write("gated.py", GATED)
    refusals: list[str] = []

    def remove_now() -> None:
        before = snapshot(db_url)
        with pytest.raises(UsageError, match=r"job busy is Running on .*give --force to delete it anyway") as refused:
            control.remove(store, ["busy"])
        refusals.append(str(refused.value))
        assert snapshot(db_url) == before
        assert control.remove(store, ["busy"], force=True).counts["jobs"] == 1

    with at("gated", remove_now):
        result = run(store, Path("gated.py"), "busy")

    # Its runner could not record its next block: the attempt ended, and the job stays deleted.
    assert len(refusals) == 1
    assert result.exit_code != 0 and "no longer this runner's" in result.reason  # it stopped, writing nothing
    assert rows_of(db_url, "busy") == NO_ROWS


# ---- prune --------------------------------------------------------------------------


@pytest.fixture
def old_and_new(store: Store, write, clock: FakeClock) -> Store:
    """Old (40 days) and new jobs in Completed, Cancelled, Failed and Waiting."""
    write("done.py", DONE)
    write("waits.py", WAITS)
    write("fails.py", 'raise SystemExit("broken")\n')
    for prefix in ("old", "new"):
        run(store, Path("done.py"), f"{prefix}-done")
        run(store, Path("waits.py"), f"{prefix}-cancelled")
        control.cancel(store, f"{prefix}-cancelled")
        run(store, Path("fails.py"), f"{prefix}-failed")
        run(store, Path("waits.py"), f"{prefix}-waits")
        if prefix == "old":
            clock.advance(40 * DAY)
    return store


def _ids(store: Store) -> set[str]:
    return {job["id"] for job in history.jobs(store)}


def test_prune_deletes_old_final_jobs_only(old_and_new: Store, db_url: str) -> None:
    removal = control.prune(old_and_new, older_than="30d")

    assert sorted(job["id"] for job in removal.jobs) == ["old-cancelled", "old-done"]
    assert removal.counts == {"jobs": 2, "attempts": 2, "blocks": 2, "inputs": 0}
    assert _ids(old_and_new) == {"new-done", "new-cancelled", "new-failed", "new-waits", "old-failed", "old-waits"}
    assert rows_of(db_url, "old-done")["psflow_block"] == 0


def test_prune_deletes_in_batches_and_others_write_between_them(old_and_new: Store, db_url: str, clock) -> None:
    from psflow.store import open_store

    steps = []

    def meanwhile(step: control.PruneProgress) -> None:
        steps.append((step.deleted, step.total))
        if len(steps) == 1:  # between two batches no transaction is open: another connection writes at once
            with open_store(db_url, clock=clock) as other:
                assert other.set_status(other.get_job("old-failed"), status=JobStatus.WAITING, reason="retried")

    slept_before = len(clock.slept)

    removal = control.prune(
        old_and_new, statuses=["Completed", "Cancelled", "Failed"], older_than="30d", batch=1, progress=meanwhile
    )

    assert steps == [(1, 3), (2, 3)]  # old-failed changed meanwhile: it is no longer old, and stays
    assert removal.counts["jobs"] == 2 and "old-failed" in _ids(old_and_new)
    pauses = clock.slept[slept_before:]  # after each batch (8 jobs looked at one by one), a short pause for others
    assert len(pauses) == 8 and all(0 <= pause <= control.PRUNE_BATCH_SECONDS for pause in pauses)


def test_prune_sizes_its_batches_by_those_that_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long stretch of jobs that are kept is quick to look at: it must not grow the batch that then
    meets the old jobs (it held the write lock for 435 ms in bench/bench_large.py)."""
    clock = FakeClock()
    monkeypatch.setattr(control, "time", types.SimpleNamespace(perf_counter=clock.monotonic))
    limits: list[int] = []

    class Stretches:  # 8 batches of kept jobs, then old ones, each taking 0.1 ms per job looked at
        def __init__(self) -> None:
            self.clock = clock

        def count_jobs(self, statuses, *, updated_before) -> int:
            return 10_000

        def prune_jobs(self, statuses, before, *, limit, after):
            limits.append(limit)
            clock.advance(0.0001 * limit if len(limits) > 8 else 0.000001)
            deleted = [f"old{len(limits)}-{n}" for n in range(limit)] if len(limits) > 8 else []
            return (
                deleted,
                dict.fromkeys(("jobs", "attempts", "blocks", "inputs"), 0),
                None if len(limits) == 12 else "x",
            )

    control.prune(Stretches(), older_than="30d")  # type: ignore[arg-type]

    assert limits[:9] == [control.PRUNE_FIRST_BATCH] * 9  # no growth while nothing was deleted
    assert all(limit * 0.0001 <= 2 * control.PRUNE_BATCH_SECONDS for limit in limits)


def test_prune_a_chosen_status(old_and_new: Store) -> None:
    control.prune(old_and_new, statuses=["Failed"], older_than="39d")
    assert "old-failed" not in _ids(old_and_new) and "old-done" in _ids(old_and_new)

    control.prune(old_and_new, statuses=["Completed"], older_than="41d")
    assert "old-done" in _ids(old_and_new)  # 40 days old: not older than 41d


def test_prune_takes_a_job_once_it_is_old_enough(old_and_new: Store, clock: FakeClock) -> None:
    assert control.prune(old_and_new, older_than="41d").jobs == []
    clock.advance(DAY)
    assert {job["id"] for job in control.prune(old_and_new, older_than="41d").jobs} == {"old-done", "old-cancelled"}


def test_prune_dry_run_lists_and_changes_nothing(old_and_new: Store, db_url: str) -> None:
    before = snapshot(db_url)

    removal = control.prune(old_and_new, older_than="720h", dry_run=True)

    assert removal.dry_run and removal.counts == {}
    assert {job["id"] for job in removal.jobs} == {"old-done", "old-cancelled"}
    assert snapshot(db_url) == before


def test_prune_with_a_bad_duration_changes_nothing(old_and_new: Store, db_url: str) -> None:
    before = snapshot(db_url)

    for text in ("30", "abc", "-1d", "30x", "d", "1.d", ""):
        with pytest.raises(UsageError) as refused:
            control.prune(old_and_new, older_than=text)
        assert str(refused.value) == (
            f"--older-than takes a duration like 30d, 12h, 45m or 90s (units s, m, h, d, w), not {text!r}"
        )
    assert snapshot(db_url) == before


def test_prune_never_deletes_running_jobs(old_and_new: Store, db_url: str) -> None:
    before = snapshot(db_url)

    with pytest.raises(UsageError, match="prune never deletes Running jobs: cancel them first"):
        control.prune(old_and_new, statuses=["Running"], older_than="1d")
    assert snapshot(db_url) == before


# ---- unknown and ambiguous ids: every command ---------------------------------------

BY_ID: dict[str, Callable[[Store, str], object]] = {
    "job": history.job_detail,
    "logs": transcripts.transcript,
    "rerun": lambda store, job_id: control.rerun(store, job_id, only=["Step"]),
    "cancel": control.cancel,
    "retry": control.retry,
    "rm": lambda store, job_id: control.remove(store, [job_id]),
}


def test_unknown_or_ambiguous_id_changes_nothing(three: Store, write, db_url: str) -> None:
    write("more.py", WAITS)
    run(three, Path("more.py"), "failing")  # "fai" is now ambiguous
    before = snapshot(db_url)

    for command, call in BY_ID.items():
        with pytest.raises(UnknownJob, match=r"^no job with id 'nope': `psflow jobs` lists them$") as unknown:
            call(three, "nope")
        with pytest.raises(
            AmbiguousJob, match=r"^job id prefix 'fai' is ambiguous .*: give more characters$"
        ) as ambiguous:
            call(three, "fai")
        assert unknown.value.exit_code == ambiguous.value.exit_code == 2, command
    assert snapshot(db_url) == before


def test_ids_are_case_sensitive(three: Store) -> None:
    with pytest.raises(UnknownJob, match="no job with id 'DONE'"):
        control.cancel(three, "DONE")


# ---- a cancelled job stays cancelled ------------------------------------------------


def test_a_cancelled_job_is_left_alone_by_a_worker(three: Store) -> None:
    control.cancel(three, "waits")

    assert due_jobs(three, [JobStatus.WAITING]) == []  # what a worker takes
    assert running.resume_job(three, "waits").note == "skipped: already Cancelled"  # one it was handed anyway
    assert _status(three, "waits")[0] == "Cancelled"


def test_a_database_that_refuses_the_change_is_a_store_error(three: Store, db_url: str) -> None:
    """A refused UPDATE (here: a trigger) comes out as psflow's StoreError, never the driver's own."""
    refuse_job_updates(db_url)

    with pytest.raises(StoreError) as refused:
        control.cancel(three, "fails")

    assert str(refused.value).startswith("cannot use database ") and "no changes to jobs" in str(refused.value)
    assert "\n" not in str(refused.value)
