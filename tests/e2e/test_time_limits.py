"""`with block("X", timeout=S):` through the real command: a body stuck in a child process is
interrupted when its time runs out, the job fails with the reason, and a fixed script resumes it.
The semantics (retries, nesting, the timer afterwards) are tested in-process in tests/runtime/test_timeouts.py."""

from __future__ import annotations

import os
import subprocess

SLEEP = f"60.{os.getpid()}"  # told apart from other test runs' sleeps on this machine
STUCK = """
    import subprocess
    with block("Fetch"):
        rows = 3
    with block("Wait", timeout=1):
        subprocess.run(["sleep", "SECONDS"])
        done = True
    print("done", rows)
""".replace("SECONDS", SLEEP)


def test_a_block_stuck_in_a_child_process_fails_when_its_time_runs_out(psflow, write, job_detail) -> None:
    script = write("stuck.py", STUCK)

    result = psflow("exec", str(script), "--job", "stuck", timeout=50)

    assert result.returncode == 1
    assert f'File "{script}", line 5, in <module>' in result.stderr  # the user's line, where it was stuck
    assert "psflow.BlockTimeout: block 'Wait' ran out of its time limit (1s)" in result.stderr
    detail = job_detail("stuck")
    assert (detail["status"], detail["reason"]) == (
        "Failed",
        "psflow.BlockTimeout: block 'Wait' ran out of its time limit (1s)",
    )
    assert [(block["name"], block["status"]) for block in detail["blocks"]] == [
        ("Fetch", "Completed"),
        ("Wait", "Failed"),
    ]
    assert f"sleep {SLEEP}" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_a_fixed_script_resumes_the_job_after_its_time_ran_out(psflow, write, job_detail) -> None:
    script = write("stuck.py", STUCK)
    psflow("exec", str(script), "--job", "stuck", timeout=50)
    write("stuck.py", STUCK.replace(SLEEP, "0"))

    result = psflow("resume", "--status", "Failed")

    assert result.returncode == 0, result.stderr
    assert "done 3" in result.stdout
    assert job_detail("stuck")["status"] == "Completed"
