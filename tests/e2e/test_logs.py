"""`psflow logs`: one transcript of a job's block runs across attempts, its filters, --follow,
and `--replay-output` on exec and resume."""

from __future__ import annotations

import json
import re
import time

from support.cli import assert_clean_error, job_id_of
from support.database import snapshot
from support.scripts import COUNTED, detail, start, start_gated

# Attempt 1 fails in "load"; once the file `fixed` exists, the next attempt completes.
FLAKY = COUNTED + """
    block "fetch":
        bump("fetch")
        rows = 3
        print(f"fetched {rows} rows")

    block "load":
        bump("load")
        print("loading", rows)
        if not Path("fixed").exists():
            raise ValueError("bad row 2")
        print("loaded")

    block "report":
        bump("report")
        print("report done")
"""

HEADER = re.compile(r"^==> (.+) \(attempt (\d+), (\w+), (\S+), [0-9-]+ [0-9:]+, \d+\.\d{3}s\) <==$")


def _headers(text: str) -> list[tuple[str, int, str]]:
    return [
        (match[1], int(match[2]), match[3])
        for match in map(HEADER.match, text.splitlines())
        if match is not None
    ]


def _failed_then_fixed(psflow, write, tmp_path) -> str:
    write("flaky.py", FLAKY)
    assert psflow("exec", "flaky.py", "--job", "flaky").returncode == 1
    (tmp_path / "fixed").touch()
    assert psflow("resume", "--status", "Failed").returncode == 0
    return "flaky"


def test_transcript_of_a_failed_then_fixed_job_in_order(psflow, write, tmp_path):
    job_id = _failed_then_fixed(psflow, write, tmp_path)

    result = psflow("logs", job_id)

    assert result.returncode == 0, result.stderr
    host = detail(psflow, job_id)["runs"][0]["host"]
    assert _headers(result.stdout) == [
        ("fetch", 1, "Completed"),
        ("load", 1, "Failed"),
        ("load", 2, "Completed"),
        ("report", 2, "Completed"),
    ]
    assert all(f", {host}, " in line for line in result.stdout.splitlines() if line.startswith("==> "))
    sections = re.split(r"^==> .*<==\n", result.stdout, flags=re.M)[1:]
    assert sections[0] == "fetched 3 rows\n"
    assert sections[1].startswith("loading 3\nTraceback (most recent call last):\n")  # output, then the error
    assert sections[1].rstrip().endswith("ValueError: bad row 2")
    assert str(tmp_path / "flaky.py") in sections[1]  # the user's file, not psflow's frames
    assert sections[2] == "loading 3\nloaded\n"
    assert sections[3] == "report done\n"
    assert "Traceback" not in result.stderr


def test_block_and_attempt_filters(psflow, write, tmp_path):
    job_id = _failed_then_fixed(psflow, write, tmp_path)

    by_block = psflow("logs", job_id, "load")
    by_attempt = psflow("logs", job_id, "--attempt", "2")
    both = psflow("logs", job_id, "load", "--attempt", "1")
    by_prefix = psflow("logs", "fla", "fetch")

    assert _headers(by_block.stdout) == [("load", 1, "Failed"), ("load", 2, "Completed")]
    assert _headers(by_attempt.stdout) == [("load", 2, "Completed"), ("report", 2, "Completed")]
    assert _headers(both.stdout) == [("load", 1, "Failed")]
    assert _headers(by_prefix.stdout) == [("fetch", 1, "Completed")]
    assert "fetched" not in by_block.stdout + by_attempt.stdout


def test_logs_json(psflow, write, tmp_path):
    job_id = _failed_then_fixed(psflow, write, tmp_path)

    result = psflow("logs", job_id, "--json")

    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [(run["name"], run["attempt"], run["status"]) for run in runs] == [
        ("fetch", 1, "Completed"), ("load", 1, "Failed"), ("load", 2, "Completed"), ("report", 2, "Completed"),
    ]
    assert runs[0]["output"] == "fetched 3 rows\n" and runs[0]["error"] is None
    assert "ValueError: bad row 2" in runs[1]["error"]
    assert {"host", "pid", "started", "ended", "duration", "tries"} <= set(runs[0])


def test_a_job_without_block_runs(psflow, write):
    write("plain.py", "print('no blocks here')\n")
    psflow("exec", "plain.py", "--job", "plain")

    result = psflow("logs", "plain")

    assert (result.returncode, result.stdout) == (0, "")
    assert "job plain has no block runs yet" in result.stderr


def test_bad_filters_and_ids_are_clean_errors_that_change_nothing(psflow, write, tmp_path):
    _failed_then_fixed(psflow, write, tmp_path)
    write("other.py", "stop('Waiting')\n")
    psflow("exec", "other.py", "--job", "flake")  # "fla" is now ambiguous
    before = snapshot(psflow.db_url)

    assert_clean_error(psflow("logs", "flaky", "Load"), "job flaky has no block 'Load'", "fetch, load, report")
    assert_clean_error(psflow("logs", "flaky", "--attempt", "3"), "job flaky has 2 attempt(s): there is no attempt 3")
    assert_clean_error(psflow("logs", "nope"), "no job with id 'nope'")
    assert_clean_error(psflow("logs", "fla"), "ambiguous")
    assert_clean_error(psflow("logs", "flaky", "--follow", "--json"), "--json and --follow cannot be combined")
    assert psflow("logs", "flaky", "--attempt", "0").returncode == 2
    assert snapshot(psflow.db_url) == before


def test_follow_prints_new_runs_until_the_job_ends(psflow, write, tmp_path):
    runner = start_gated(psflow, write, tmp_path, "gated")
    follower = start(psflow, tmp_path, "logs", "gated", "--follow")
    try:
        time.sleep(1.5)  # a few polls
        assert follower.poll() is None  # the job is still Running: it keeps following
        (tmp_path / "gate").touch()
        runner_out, runner_err = runner.communicate(timeout=60)
        out, err = follower.communicate(timeout=30)  # ends by itself once the job is no longer Running
    finally:
        for process in (runner, follower):
            if process.poll() is None:
                process.kill()
    assert runner.returncode == 0, runner_err
    assert follower.returncode == 0, err
    assert _headers(out) == [("started", 1, "Completed"), ("gated", 1, "Completed"), ("last", 1, "Completed")]
    assert "through the gate\n" in out
    assert "psflow: job gated is Completed" in err


def test_follow_of_a_job_that_is_not_running_prints_and_ends(psflow, write, tmp_path):
    job_id = _failed_then_fixed(psflow, write, tmp_path)

    result = psflow("logs", job_id, "--follow", "--attempt", "1", timeout=30)

    assert result.returncode == 0, result.stderr
    assert _headers(result.stdout) == [("fetch", 1, "Completed"), ("load", 1, "Failed")]
    assert "job flaky is Completed" in result.stderr


# ---- --replay-output -------------------------------------------------------------

GATE_AFTER_STEP = """
    from pathlib import Path

    block "step":
        print("step output")
    print("after step")
    if not Path("go").exists():
        stop("Waiting")
"""


def test_replay_output_reprints_a_replayed_blocks_output(psflow, write, tmp_path):
    write("flow.py", GATE_AFTER_STEP)
    first = psflow("exec", "flow.py", "--job", "flow")
    plain = psflow("resume")
    again = psflow("resume", "--replay-output")
    via_exec = psflow("exec", "flow.py", "--job", "flow", "--replay-output")

    assert first.stdout == "step output\nafter step\n"
    assert plain.stdout == "after step\n"  # replayed silently by default
    assert again.stdout == "step output\nafter step\n", again.stderr  # in its place, before what follows
    assert via_exec.stdout == "step output\nafter step\n", via_exec.stderr
    assert "1 replayed" in again.stderr
    # A reprint is not new output: the block's recorded output is still that of attempt 1 only.
    runs = json.loads(psflow("logs", "flow", "--json").stdout)
    assert [(run["name"], run["attempt"], run["output"]) for run in runs] == [("step", 1, "step output\n")]


def test_replay_output_through_worker_processes(psflow, write, tmp_path):
    write("flow.py", GATE_AFTER_STEP)
    for index in range(2):
        assert psflow("exec", "flow.py", "--job", f"flow-{index}").returncode == 3

    result = psflow("resume", "--parallel", "2", "--replay-output")

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("step output\n") == 2
    assert result.stdout.count("after step\n") == 2


def test_replay_output_on_a_new_job_changes_nothing(psflow, write):
    write("flow.py", GATE_AFTER_STEP)

    result = psflow("exec", "flow.py", "--replay-output")

    assert result.returncode == 3
    assert result.stdout == "step output\nafter step\n"
    assert job_id_of(result)


# ---- psflow job: per attempt, what was executed and what was replayed ---------------


def test_job_shows_each_attempt_with_executed_and_replayed_blocks(psflow, write, tmp_path):
    write("flaky.py", FLAKY)
    assert psflow("exec", "flaky.py", "--job", "flaky").returncode == 1
    write("flaky.py", FLAKY.replace('print("loaded")', 'print("loaded!")'))  # edited between attempts
    (tmp_path / "fixed").touch()
    assert psflow("resume", "--status", "Failed").returncode == 0

    job = detail(psflow, "flaky")
    text = psflow("job", "flaky")

    assert {"blocks", "runs", "attempt_history", "inputs"} <= set(job)  # the keys scripts already read
    first, second = job["attempt_history"]
    assert (first["source_changed"], second["source_changed"]) == (False, True)
    assert first["source_sha256"] != second["source_sha256"]
    assert [(b["name"], b["state"], b["status"], b["attempt"]) for b in first["blocks"]] == [
        ("fetch", "executed", "Completed", 1), ("load", "executed", "Failed", 1),
    ]
    assert [(b["name"], b["state"], b["status"], b["attempt"]) for b in second["blocks"]] == [
        ("fetch", "replayed", "Completed", 1), ("load", "executed", "Completed", 2), ("report", "executed", "Completed", 2),
    ]
    assert all({"duration", "host", "tries", "fingerprint", "code_changed"} <= set(b) for b in second["blocks"])
    lines = text.stdout.splitlines()
    assert lines[0] == "job       flaky"
    header = next(line for line in lines if line.startswith("attempt 2: "))
    assert header.startswith("attempt 2: Completed — on ")
    assert f"source {second['source_sha256'][:12]} (changed since the attempt before)" in header
    attempt_1 = next(line for line in lines if line.startswith("attempt 1: "))
    assert attempt_1.startswith("attempt 1: Failed (ValueError: bad row 2)") and "changed" not in attempt_1
    table = lines[lines.index(header) + 1:]
    assert table[0].split() == ["BLOCK", "RAN", "STATUS", "DURATION", "TRIES", "HOST", "NOTE"]
    assert table[1].split() == ["fetch", "replayed", "Completed", "-", "-", "-", "from", "attempt", "1"]
    assert table[2].split()[:3] == ["load", "executed", "Completed"]


def test_job_says_which_blocks_code_changed(psflow, write, tmp_path):
    job_id = _failed_then_fixed(psflow, write, tmp_path)
    _set_fingerprints(psflow.db_url, job_id, {("fetch", 1): "f1", ("load", 1): "l1", ("load", 2): "l2", ("report", 2): "r1"})

    job = detail(psflow, job_id)
    text = psflow("job", job_id).stdout

    changed = {(run["name"], run["attempt"]): run["code_changed"] for run in job["runs"]}
    assert changed == {("fetch", 1): None, ("load", 1): None, ("load", 2): True, ("report", 2): None}
    assert [run["fingerprint"] for run in job["runs"]] == ["f1", "l1", "l2", "r1"]
    load_row = next(line for line in text.splitlines() if line.startswith("load ") and "executed  Completed" in line)
    assert load_row.rstrip().endswith("code changed")


def _set_fingerprints(db_url: str, job_id: str, fingerprints: dict) -> None:
    """What the transformer records per block run (set here directly: this tests the display)."""
    from playhouse.db_url import connect

    db = connect(db_url)
    try:
        for (name, attempt), fingerprint in fingerprints.items():
            db.execute_sql(
                f"UPDATE psflow_block SET fingerprint = {db.param} "
                f"WHERE job_id = {db.param} AND name = {db.param} AND attempt = {db.param}",
                (fingerprint, job_id, name, attempt),
            )
    finally:
        db.close()


def test_job_shows_the_inputs_each_attempt_received(psflow, write):
    write("approve.py", 'print("approved by", wait_for("approval"))\n')
    assert psflow("exec", "approve.py", "--job", "approve").returncode == 3
    assert psflow("send", "approve", "approval=alice").returncode == 0
    assert psflow("resume").returncode == 0

    job = detail(psflow, "approve")
    text = psflow("job", "approve").stdout

    assert [a["inputs_received"] for a in job["attempt_history"]] == [[], ["approval"]]
    assert [(b["name"], b["state"], b["status"]) for b in job["attempt_history"][1]["blocks"]] == [
        ("wait_for:approval", "executed", "Completed"),
    ]
    assert "  inputs received before it: approval" in text.splitlines()
