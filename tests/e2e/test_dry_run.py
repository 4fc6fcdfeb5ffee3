"""`psflow resume --dry-run` and `--rerun-changed` through the real command: what is printed, the exit
code, and that nothing is written. What a plan says per block is tested in-process in
tests/service/test_preflight.py, how it prints in tests/cli/test_preview.py, and what --rerun-changed
runs in tests/service/test_running.py.
"""

from __future__ import annotations

from pathlib import Path

from psflow.store import Store
from support.cli import assert_clean_error
from support.database import snapshot
from support.running import run
from support.scripts import STOPS_ONCE, count_of


def test_a_dry_run_prints_each_jobs_plan_writes_nothing_and_exits_1_if_one_could_not_run(
    psflow, store: Store, write, tmp_path: Path
) -> None:
    write("flow.py", STOPS_ONCE)
    write("other.py", STOPS_ONCE)
    changed = run(store, Path("flow.py")).job_id
    broken = run(store, Path("other.py")).job_id
    run(store, write("done.py", 'block "A":\n    pass\n'), "done-job")
    write("flow.py", STOPS_ONCE.replace("b = a + 1", "b = a + 2"))
    write("other.py", STOPS_ONCE.replace('block "A":', 'block "A"'))  # a syntax error now
    before = snapshot(psflow.db_url)

    result = psflow("resume", "--dry-run", "--job", changed, "--job", broken, "--job", "done-job")

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"job {changed} (Waiting, {tmp_path / 'flow.py'}): attempt 2 would do this",
        "note: the script changed since the last attempt; blocks are matched by name",
        "ACTION  BLOCK  LINE  WHY",
    ]
    assert lines[4].split(maxsplit=3) == [
        "replay",
        "B",
        "11",
        "completed in attempt 1; its code changed since: replays with a warning (--rerun-changed runs it again)",
    ]
    assert lines[-2].startswith(f"job {broken} (Waiting, {tmp_path / 'other.py'}): would not run: ")
    assert "syntax error" in lines[-2]
    assert lines[-1] == f"job done-job (Completed, {tmp_path / 'done.py'}): skipped: already Completed"
    assert result.stderr == (
        "psflow: dry run: 1 job(s) would be resumed, 1 skipped, 1 could not run; nothing ran and nothing was written\n"
    )
    assert snapshot(psflow.db_url) == before
    assert (count_of(tmp_path, "a"), count_of(tmp_path, "b"), count_of(tmp_path, "late")) == (2, 2, 0)


def test_a_dry_run_refuses_set_because_it_writes_nothing(psflow, store: Store, write, row_counts) -> None:
    job_id = run(store, write("flow.py", STOPS_ONCE)).job_id
    counts = row_counts()

    result = psflow("resume", "--dry-run", "--job", job_id, "--set", "approval=yes")

    assert_clean_error(result, "--dry-run writes nothing")
    assert row_counts() == counts


def test_rerun_changed_runs_a_changed_block_again_through_exec_and_resume(
    psflow, store: Store, write, tmp_path: Path
) -> None:
    write("flow.py", STOPS_ONCE)
    run(store, Path("flow.py"), "nightly")
    run(store, Path("flow.py"), "later")
    write("flow.py", STOPS_ONCE.replace('count("a")', 'count("a")  # edited'))

    via_exec = psflow("exec", "flow.py", "--job", "nightly", "--rerun-changed")
    via_resume = psflow("resume", "--job", "later", "--rerun-changed")

    assert via_exec.returncode == 0, via_exec.stderr
    assert via_resume.returncode == 0, via_resume.stderr
    assert "changed since it completed" not in via_exec.stderr + via_resume.stderr
    assert (count_of(tmp_path, "a"), count_of(tmp_path, "b")) == (4, 2)  # A ran again in both, B in neither
