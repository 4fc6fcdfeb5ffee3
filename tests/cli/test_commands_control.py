"""What `psflow rerun`, `cancel`, `retry` and `rm` print, run in this process through psflow.cli.main:
each outcome's lines, and the one-line error (exit 2, nothing on stdout) for each bad input. What the
commands change is tested in tests/service; the real command in tests/e2e/test_lifecycle.py and test_rerun.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from psflow.service import control
from psflow.store import Store, open_store
from support.cli import assert_clean_error
from support.clock import FakeClock
from support.running import completed_run, done_waits_fails, held_elsewhere, run
from support.scripts import CHAIN, NESTED


@pytest.fixture
def chain(store: Store, write) -> str:
    run(store, write("chain.py", CHAIN), "chain")
    return "chain"


def test_rerun_of_a_completed_job_says_it_is_waiting_now(cli, chain: str) -> None:
    result = cli("rerun", chain, "--from", "b")

    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == (
        "psflow: job chain: 3 block(s) will run again: b, c, d\n"
        "psflow: job chain was Completed, now Waiting: `psflow resume --job chain` (or the next `psflow resume`) "
        "runs them\n"
    )


def test_rerun_of_many_blocks_names_the_first_ten_and_counts_the_rest(cli, store: Store, write) -> None:
    run(store, write("many.py", 'for n in range(1200):\n    with block(f"s{n}"):\n        pass\n'), "many")

    result = cli("rerun", "many", "--from", "s0")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        "psflow: job many: 1,200 block(s) will run again: s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 … and 1,190 more"
    )


def test_rerun_of_an_inner_block_names_the_block_around_it(cli, store: Store, write) -> None:
    run(store, write("nested.py", NESTED), "nested")

    result = cli("rerun", "nested", "--only", "inner")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[:2] == [
        "psflow: job nested: 2 block(s) will run again: outer, inner",
        "psflow: job nested: outer too: a chosen block runs inside it",
    ]


def test_rerun_of_a_waiting_job_says_its_next_attempt_runs_them(cli, store: Store, write) -> None:
    run(store, write("waits.py", CHAIN + '    stop("Waiting", reason="not yet")\n'), "waits")

    result = cli("rerun", "waits", "--only", "b", "--only", "c")

    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "psflow: job waits: 2 block(s) will run again: b, c\n"
        "psflow: job waits is Waiting: its next attempt (`psflow resume --job waits`) runs them\n"
    )


def test_rerun_of_a_job_whose_runner_died_takes_it_back_as_waiting(cli, store_url: str) -> None:
    with open_store(store_url, clock=FakeClock(time.time() - 3600)) as an_hour_ago:
        held_elsewhere(an_hour_ago, "orphan")
        an_hour_ago.save_block("orphan", completed_run("a"))

    result = cli("rerun", "orphan", "--only", "a")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (  # so that nothing its runner still writes can undo the rerun
        "psflow: job orphan was Running, now Waiting: `psflow resume --job orphan` (or the next `psflow resume`) runs them"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--from", "B"), "job chain has no block 'B' (block names are case-sensitive): its blocks are a, b, c, d"),
        (("--only", "a", "--only", "zz"), "job chain has no block 'zz'"),
        (
            ("--from", "b", "--only", "c"),
            "give either --from BLOCK (it and every block completed after it) or --only BLOCK, not both",
        ),
        ((), "say which blocks to run again: --from BLOCK or --only BLOCK"),
    ],
    ids=["unknown-from", "one-of-two-unknown", "from-and-only", "neither"],
)
def test_bad_rerun_is_a_clean_error(cli, chain: str, options: tuple[str, ...], message: str) -> None:
    assert_clean_error(cli("rerun", chain, *options), f"psflow: error: {message}")


def test_rerun_of_a_cancelled_a_running_or_a_never_completed_job_is_a_clean_error(cli, store: Store, write) -> None:
    run(store, write("gate.py", 'with block("Gate"):\n    stop("Waiting")\n'), "gate")
    run(store, write("wait.py", "stop('Waiting')\n"), "chained")
    control.cancel(store, "chained")
    held_elsewhere(store, "busy")

    assert_clean_error(cli("rerun", "gate", "--only", "Gate"), "no completed run to redo")
    assert_clean_error(cli("rerun", "chained", "--only", "a"), "job chained was cancelled")
    assert_clean_error(
        cli("rerun", "busy", "--only", "a"), "job busy is Running on", "cannot change its blocks while it runs"
    )


COMMANDS_BY_ID = [("job",), ("logs",), ("rerun", "--only", "Step"), ("cancel",), ("retry",), ("rm",)]


def test_an_unknown_or_ambiguous_id_is_a_clean_error(cli, store: Store, tmp_path: Path, write) -> None:
    done_waits_fails(store, tmp_path)
    run(store, write("more.py", "stop('Waiting')\n"), "failing")  # "fai" is now ambiguous

    for name, *options in COMMANDS_BY_ID:
        assert_clean_error(cli(name, "nope", *options), "psflow: error: no job with id 'nope'")
        assert_clean_error(cli(name, "fai", *options), "psflow: error: job id prefix 'fai' is ambiguous")


def test_cancelling_a_final_job_is_a_clean_error_and_resume_skips_a_cancelled_one(
    cli, store: Store, tmp_path: Path
) -> None:
    done_waits_fails(store, tmp_path)
    control.cancel(store, "waits")

    assert_clean_error(cli("cancel", "done"), "psflow: error: job done is already Completed: cannot cancel it")
    assert_clean_error(cli("cancel", "waits", "--reason", "again"), "psflow: error: job waits is already Cancelled")
    skipped = cli("resume", "--job", "waits")
    assert (skipped.returncode, skipped.stdout) == (0, "")
    assert skipped.stderr == (
        "psflow: job waits: skipped: already Cancelled\npsflow: resumed 1 job(s) in the named jobs: 1 skipped\n"
    )
    assert cli("resume").stderr == "psflow: resumed 0 job(s) in Waiting: nothing to do\n"


def test_rm_force_deletes_a_running_job(cli, store: Store) -> None:
    held_elsewhere(store, "busy")

    result = cli("rm", "busy", "--force")

    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "psflow: deleted job busy (Running)\npsflow: rows deleted: 1 job(s), 1 attempt(s), 0 block run(s), 0 input(s)\n"
    )
    assert store.get_job("busy") is None
