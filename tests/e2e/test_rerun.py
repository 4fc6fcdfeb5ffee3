"""`psflow rerun` through the real command: what it prints, and that the next `psflow resume` runs the
blocks again (their output on the command's stdout). What rerun marks, and that bad input changes
nothing, is tested in-process in tests/service/test_rerun.py; every message in tests/cli/test_commands_control.py.
"""

from __future__ import annotations

from pathlib import Path

from psflow.store import Store
from support.cli import assert_clean_error
from support.database import snapshot
from support.running import held_elsewhere, run
from support.scripts import CHAIN, counts


def test_rerun_says_which_blocks_run_again_and_resume_runs_them(psflow, store: Store, write, tmp_path: Path) -> None:
    run(store, write("chain.py", CHAIN), "chain")

    marked = psflow("rerun", "chain", "--from", "b")
    resumed = psflow("resume")

    assert (marked.returncode, marked.stdout) == (0, "")
    assert marked.stderr == (
        "psflow: job chain: 3 block(s) will run again: b, c, d\n"
        "psflow: job chain was Completed, now Waiting: `psflow resume --job chain` (or the next `psflow resume`) "
        "runs them\n"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "b ran\nc ran\nd ran with 20\nvalue is 20\n"
    assert counts(tmp_path) == {"a": 1, "b": 2, "c": 2, "d": 2}


def test_bad_rerun_is_a_clean_error_that_changes_nothing(psflow, store: Store, write) -> None:
    run(store, write("chain.py", CHAIN), "chain")
    held_elsewhere(store, "busy")
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("rerun", "chain", "--from", "B"), "job chain has no block 'B'", "a, b, c, d")
    assert_clean_error(psflow("rerun", "busy", "--only", "a"), "job busy is Running on", "cannot change its blocks")
    assert snapshot(psflow.db_url) == before
