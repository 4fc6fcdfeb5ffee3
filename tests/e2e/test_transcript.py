"""`psflow logs` is the complete record of an unattended run: everything the job printed, at the
file-descriptor level (child processes, os.write, bytes that are not UTF-8), what it printed outside
blocks, the traceback of an exception no block caught, bounded in size, live while it runs."""

from __future__ import annotations

import json

from support.cli import start
from support.scripts import wait_until

EVERYTHING = """
    import os, subprocess, sys
    print("before any block")
    with block("A"):
        print("in A")
        subprocess.run([sys.executable, "-c", "print('from a child process')"])
        os.write(1, b"raw write \\xff\\xfe bytes\\n")
    print("between A and B")
    with block("B"):
        print("in B", file=sys.stderr)
    print("after B")
    raise RuntimeError("boom outside")
"""


def test_logs_hold_everything_the_job_printed_in_order(psflow, write):
    write("flow.py", EVERYTHING)
    ran = psflow("exec", "flow.py", "--job", "t1")

    logs = psflow("logs", "t1")
    entries = json.loads(psflow("logs", "t1", "--json").stdout)

    assert ran.returncode == 1
    assert "from a child process" in ran.stdout and "in A" in ran.stdout  # still shown live
    assert logs.returncode == 0, logs.stderr
    expected = [
        "before any block",
        "==> A (attempt 1, Completed",
        "in A",
        "from a child process",
        "raw write \\xff\\xfe bytes",
        "between A and B",
        "==> B (attempt 1, Completed",
        "in B",
        "after B",
        "==> attempt 1 ended (Failed: RuntimeError: boom outside, ",
        "Traceback (most recent call last):",
        'raise RuntimeError("boom outside")',
        "\nRuntimeError: boom outside",
    ]
    positions = [logs.stdout.find(text) for text in expected]
    assert -1 not in positions and positions == sorted(positions), logs.stdout
    assert [entry["kind"] for entry in entries] == ["block", "block", "attempt"]
    assert entries[0]["lead"] == "before any block\n" and "Traceback" in entries[2]["error"]


def test_the_job_shows_the_traceback_of_an_uncaught_exception(psflow, write):
    write("flow.py", EVERYTHING)
    psflow("exec", "flow.py", "--job", "t2")

    detail = json.loads(psflow("job", "t2", "--json").stdout)
    shown = psflow("job", "t2")

    assert "RuntimeError: boom outside" in detail["attempt_history"][0]["error"]
    assert "Traceback" in shown.stdout and "boom outside" in shown.stdout


def test_a_block_printing_a_lot_keeps_only_its_tail(psflow, write):
    write("loud.py", 'with block("Loud"):\n    for i in range(200000):\n        print(f"line {i:06d}")\n')

    ran = psflow("exec", "loud.py", "--job", "t3", env={"PSFLOW_OUTPUT_TAIL": "100000"})
    (entry,) = json.loads(psflow("logs", "t3", "--json").stdout)

    assert ran.returncode == 0 and ran.stdout.count("\n") == 200000  # all of it shown live
    assert (
        entry["output"].startswith("[psflow: the first ")
        and "characters of this output were dropped" in entry["output"]
    )
    assert entry["output"].endswith("line 199999\n") and len(entry["output"]) < 100200


def test_follow_shows_a_running_block_s_output_as_it_is_produced(psflow, write, tmp_path):
    write(
        "slow.py",
        """
        from pathlib import Path
        import time
        with block("Slow"):
            print("first line", flush=True)
            while not Path("gate").exists():
                time.sleep(0.02)
            print("second line")
        with block("Next"):
            print("next")
    """,
    )
    runner = start(psflow.db_url, tmp_path, "exec", "slow.py", "--job", "t4")
    wait_until(lambda: json.loads(psflow("jobs", "--json").stdout or "[]"), what="the job to exist")
    follower = start(psflow.db_url, tmp_path, "logs", "t4", "--follow")

    assert follower.stdout.readline() == "==> Slow (attempt 1, running) <==\n"
    assert follower.stdout.readline() == "first line\n"  # before the block ended
    (tmp_path / "gate").touch()
    rest, _ = follower.communicate(timeout=60)
    runner.communicate(timeout=60)

    assert rest.splitlines()[0] == "second line"
    assert rest.splitlines()[1].startswith("==> Slow (attempt 1, Completed")
    assert rest.count("first line") == 0 and "next" in rest


def test_a_line_the_script_prints_stays_before_its_childs_without_pythonunbuffered(psflow, write):
    """A new user's shell has no PYTHONUNBUFFERED: the script's stdout into psflow's pipe was block
    buffered, and a child's line came first in the live output and in the log."""
    write("flow.py", EVERYTHING)

    ran = psflow("exec", "flow.py", "--job", "buffered", env={"PYTHONUNBUFFERED": ""})
    logs = psflow("logs", "buffered")

    for shown in (ran.stdout, logs.stdout):
        assert 0 <= shown.find("in A") < shown.find("from a child process"), shown
