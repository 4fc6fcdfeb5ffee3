"""`psflow logs` through the real command: the transcript in a pipe, its one-line errors, `--follow`
(a second process following a job a third one runs), and `--replay-output` through worker processes.
What the transcript holds and its filters are tested in-process in tests/service/test_history.py,
how it prints in tests/cli/test_transcript.py, `--replay-output` in tests/service/test_running.py."""

from __future__ import annotations

import re
from pathlib import Path

from psflow.store import Store
from support.cli import assert_clean_error
from support.database import snapshot
from support.running import failed_then_fixed, run
from support.scripts import GATE_AFTER_STEP, next_line, start, start_gated

HEADER = re.compile(r"^==> (.+) \(attempt (\d+), (\w+), (\S+), [0-9-]+ [0-9:]+, \d+\.\d{3}s\) <==$")


def _headers(text: str) -> list[tuple[str, int, str]]:
    return [(match[1], int(match[2]), match[3]) for match in map(HEADER.match, text.splitlines()) if match is not None]


def test_logs_prints_the_transcript_of_a_failed_then_fixed_job_in_order(psflow, store: Store, tmp_path: Path) -> None:
    job_id = failed_then_fixed(store, tmp_path)

    result = psflow("logs", job_id)

    assert (result.returncode, result.stderr) == (0, "")
    assert _headers(result.stdout) == [
        ("fetch", 1, "Completed"),
        ("load", 1, "Failed"),
        ("load", 2, "Completed"),
        ("report", 2, "Completed"),
    ]
    sections = re.split(r"^==> .*<==\n", result.stdout, flags=re.MULTILINE)[1:]
    assert sections[0] == "fetched 3 rows\n"
    assert sections[1].startswith("loading 3\nTraceback (most recent call last):\n")  # output, then the error
    assert sections[1].rstrip().endswith("ValueError: bad row 2")
    assert str(tmp_path / "flaky.py") in sections[1]  # the user's file, not psflow's frames
    assert sections[2:] == ["loading 3\nloaded\n", "report done\n"]


def test_bad_filters_are_clean_errors_that_change_nothing(psflow, store: Store, tmp_path: Path) -> None:
    failed_then_fixed(store, tmp_path)
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("logs", "flaky", "Load"), "job flaky has no block 'Load'", "fetch, load, report")
    assert_clean_error(psflow("logs", "flaky", "--attempt", "3"), "job flaky has 2 attempt(s): there is no attempt 3")
    assert_clean_error(psflow("logs", "flaky", "--follow", "--json"), "--json and --follow cannot be combined")
    assert psflow("logs", "flaky", "--attempt", "0").returncode == 2
    assert snapshot(psflow.db_url) == before


def test_follow_prints_new_runs_until_the_job_ends(psflow, write, tmp_path: Path) -> None:
    runner = start_gated(psflow, write, tmp_path, "gated")
    follower = start(psflow, tmp_path, "logs", "gated", "--follow")
    try:
        first = next_line(follower.stdout, what="the follower to print the first block run")
        assert follower.poll() is None  # the job is still Running (held at the gate): it keeps following
        (tmp_path / "gate").touch()
        _runner_out, runner_err = runner.communicate(timeout=60)
        out, err = follower.communicate(timeout=30)  # ends by itself once the job is no longer Running
    finally:
        for process in (runner, follower):
            if process.poll() is None:
                process.kill()
    assert runner.returncode == 0, runner_err
    assert follower.returncode == 0, err
    assert _headers(first + out) == [("started", 1, "Completed"), ("gated", 1, "Completed"), ("last", 1, "Completed")]
    assert "through the gate\n" in out
    assert "psflow: job gated is Completed" in err


def test_follow_of_a_job_that_is_not_running_prints_and_ends(psflow, store: Store, tmp_path: Path) -> None:
    job_id = failed_then_fixed(store, tmp_path)

    result = psflow("logs", job_id, "--follow", "--attempt", "1", timeout=30)

    assert result.returncode == 0, result.stderr
    assert _headers(result.stdout) == [("fetch", 1, "Completed"), ("load", 1, "Failed")]
    assert result.stderr == "psflow: job flaky is Completed\n"


def test_replay_output_through_worker_processes(psflow, store: Store, write) -> None:
    path = write("flow.py", GATE_AFTER_STEP)
    for index in range(2):
        assert run(store, path, f"flow-{index}").status == "Waiting"

    result = psflow("resume", "--parallel", "2", "--replay-output")

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("step output\n") == 2
    assert result.stdout.count("after step\n") == 2
