"""`psflow rerun`: blocks run again on the next attempt, exactly those, and their earlier runs stay in
the history. Bad input changes nothing."""

from __future__ import annotations

import pytest
from support.cli import assert_clean_error
from support.database import snapshot
from support.scripts import COUNTED, counts, detail, start_gated

# Four blocks in a row; each counts its runs. "c" binds a value "d" prints.
CHAIN = COUNTED + """
    block "a":
        bump("a")
        print("a ran")
    block "b":
        bump("b")
        print("b ran")
    block "c":
        value = bump("c") * 10
        print("c ran")
    block "d":
        bump("d")
        print("d ran with", value)
    print("value is", value)
"""

# "sibling" and "inner" run inside "outer".
NESTED = COUNTED + """
    block "before":
        bump("before")
    block "outer":
        bump("outer")
        block "sibling":
            bump("sibling")
        block "inner":
            bump("inner")
    block "after":
        bump("after")
"""


def _completed(psflow, write, name: str, source: str) -> str:
    write(f"{name}.py", source)
    result = psflow("exec", f"{name}.py", "--job", name)
    assert result.returncode == 0, result.stderr
    return name


def test_rerun_from_runs_that_block_and_every_later_one_again(psflow, write, tmp_path):
    job_id = _completed(psflow, write, "chain", CHAIN)

    marked = psflow("rerun", job_id, "--from", "b")

    assert marked.returncode == 0, marked.stderr
    assert "3 block(s) will run again: b, c, d" in marked.stderr
    assert "was Completed, now Waiting" in marked.stderr and "psflow resume --job chain" in marked.stderr
    assert detail(psflow, job_id)["status"] == "Waiting"
    resumed = psflow("resume")
    assert resumed.returncode == 0, resumed.stderr
    assert counts(tmp_path) == {"a": 1, "b": 2, "c": 2, "d": 2}
    assert resumed.stdout == "b ran\nc ran\nd ran with 20\nvalue is 20\n"
    job = detail(psflow, job_id)
    assert (job["status"], job["attempts"]) == ("Completed", 2)
    # The first runs stay in the history, marked Rerun.
    assert [(run["name"], run["attempt"], run["status"]) for run in job["runs"]] == [
        ("a", 1, "Completed"), ("b", 1, "Rerun"), ("c", 1, "Rerun"), ("d", 1, "Rerun"),
        ("b", 2, "Completed"), ("c", 2, "Completed"), ("d", 2, "Completed"),
    ]
    second = job["attempt_history"][1]["blocks"]
    assert [(block["name"], block["state"], block["attempt"]) for block in second] == [
        ("a", "replayed", 1), ("b", "executed", 2), ("c", "executed", 2), ("d", "executed", 2),
    ]
    logs = psflow("logs", job_id, "d").stdout
    assert "d ran with 10\n" in logs and "d ran with 20\n" in logs


def test_rerun_only_runs_one_block_and_later_blocks_stay_replayed(psflow, write, tmp_path):
    job_id = _completed(psflow, write, "chain", CHAIN)

    marked = psflow("rerun", job_id, "--only", "c")
    resumed = psflow("resume", "--job", job_id)

    assert marked.returncode == 0, marked.stderr
    assert "1 block(s) will run again: c" in marked.stderr
    assert counts(tmp_path) == {"a": 1, "b": 1, "c": 2, "d": 1}
    # "d" is replayed (its output is not printed again); the script after it sees c's new value.
    assert resumed.stdout == "c ran\nvalue is 20\n"
    assert [(run["name"], run["status"]) for run in detail(psflow, job_id)["blocks"]] == [
        ("a", "Completed"), ("b", "Completed"), ("c", "Completed"), ("d", "Completed"),
    ]


def test_rerun_only_takes_several_blocks(psflow, write, tmp_path):
    job_id = _completed(psflow, write, "chain", CHAIN)

    assert psflow("rerun", job_id, "--only", "a", "--only", "d").returncode == 0
    assert psflow("resume").returncode == 0

    assert counts(tmp_path) == {"a": 2, "b": 1, "c": 1, "d": 2}


def test_rerun_of_an_inner_block_reruns_the_block_around_it(psflow, write, tmp_path):
    job_id = _completed(psflow, write, "nested", NESTED)

    marked = psflow("rerun", job_id, "--only", "inner")
    assert psflow("resume").returncode == 0

    assert marked.returncode == 0, marked.stderr
    assert "2 block(s) will run again: outer, inner" in marked.stderr
    assert "outer too: a chosen block runs inside it" in marked.stderr
    # "outer" runs again so that "inner" can; "sibling" inside it is replayed.
    assert counts(tmp_path) == {"after": 1, "before": 1, "inner": 2, "outer": 2, "sibling": 1}


def test_rerun_from_an_outer_block_includes_the_blocks_inside_it(psflow, write, tmp_path):
    job_id = _completed(psflow, write, "nested", NESTED)

    assert psflow("rerun", job_id, "--from", "outer").returncode == 0
    assert psflow("resume").returncode == 0

    assert counts(tmp_path) == {"after": 2, "before": 1, "inner": 2, "outer": 2, "sibling": 2}


def test_rerun_of_a_failed_job_puts_it_back_to_waiting(psflow, write, tmp_path):
    write("fails.py", CHAIN + '    raise SystemExit("after d")\n')
    assert psflow("exec", "fails.py", "--job", "fails").returncode == 1

    marked = psflow("rerun", "fails", "--from", "c")

    assert "was Failed, now Waiting" in marked.stderr
    assert detail(psflow, "fails")["status"] == "Waiting"
    assert psflow("resume").returncode == 1  # fails again, after running c and d once more
    assert counts(tmp_path) == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_rerun_of_a_waiting_job_keeps_its_status(psflow, write, tmp_path):
    write("waits.py", CHAIN + '    if not Path("go").exists():\n        stop("Waiting", reason="not yet")\n')
    assert psflow("exec", "waits.py", "--job", "waits").returncode == 3

    marked = psflow("rerun", "waits", "--only", "b")

    assert marked.returncode == 0, marked.stderr
    assert "job waits is Waiting: its next attempt" in marked.stderr
    job = detail(psflow, "waits")
    assert (job["status"], job["reason"]) == ("Waiting", "not yet")
    (tmp_path / "go").touch()
    assert psflow("resume").returncode == 0
    assert counts(tmp_path) == {"a": 1, "b": 2, "c": 1, "d": 1}


# ---- bad input: a message, exit 2, nothing changed ----------------------------------


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (("--from", "B"), ("job chain has no block 'B'", "a, b, c, d")),
        (("--only", "nope"), ("job chain has no block 'nope'",)),
        (("--only", "a", "--only", "zz"), ("no block 'zz'",)),
        (("--from", "b", "--only", "c"), ("either --from BLOCK", "or --only BLOCK, not both")),
        ((), ("say which blocks to run again",)),
    ],
    ids=["unknown-from", "unknown-only", "one-of-two-unknown", "from-and-only", "neither"],
)
def test_bad_rerun_changes_nothing(psflow, write, options, fragments):
    _completed(psflow, write, "chain", CHAIN)
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("rerun", "chain", *options), *fragments)
    assert snapshot(psflow.db_url) == before


def test_rerun_of_a_block_that_never_completed_changes_nothing(psflow, write):
    write("gate.py", 'with block("Gate"):\n    stop("Waiting")\n')
    psflow("exec", "gate.py", "--job", "gate")
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("rerun", "gate", "--only", "Gate"), "no completed run to redo")
    assert snapshot(psflow.db_url) == before


def test_rerun_of_a_cancelled_job_or_unknown_id_changes_nothing(psflow, write):
    _completed(psflow, write, "chain", CHAIN)
    write("wait.py", "stop('Waiting')\n")
    psflow("exec", "wait.py", "--job", "chained")
    psflow("cancel", "chained")
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("rerun", "chained", "--only", "a"), "job chained was cancelled")
    assert_clean_error(psflow("rerun", "nope", "--only", "a"), "no job with id 'nope'")
    assert_clean_error(psflow("rerun", "ch", "--only", "a"), "ambiguous")
    assert snapshot(psflow.db_url) == before


def test_rerun_of_a_running_job_is_refused(psflow, write, tmp_path):
    runner = start_gated(psflow, write, tmp_path, "busy")
    try:
        before = snapshot(psflow.db_url)
        result = psflow("rerun", "busy", "--only", "started")
        assert snapshot(psflow.db_url) == before
    finally:
        (tmp_path / "gate").touch()
        runner.communicate(timeout=60)
    assert_clean_error(result, "job busy is Running on", "cannot change its blocks while it runs")
    assert runner.returncode == 0
