"""Unattended operation through the real command: a job is due or it is not, one rule for every
command; Ctrl-C, SIGTERM and crashes handled one way (README "What happens when…").

Signals are real signals sent to real process groups; scripts wait for a gate file, so no
test sleeps in place of an event.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import pytest

from support.cli import start
from support.scripts import detail, wait_until

APPROVAL = """
    from pathlib import Path
    with block("Step1"):
        Path("step1.count").write_text(str(int(Path("step1.count").read_text()) + 1 if Path("step1.count").exists() else 1))
    who = wait_for("approval")
    print("approved by", who)
"""

# Prints "started", then waits in block "Slow" for the file `gate` (its `finally` leaves a mark).
GATED = """
    import time
    from pathlib import Path
    with block("First"):
        first = 1
    with block("Slow"):
        Path("started").write_text(str(job.attempt))
        try:
            while not Path("gate").exists():
                time.sleep(0.02)
        finally:
            Path("finally").write_text(str(job.attempt))
    with block("Last"):
        print("last", first)
"""


GATED_LATER = 'if job.attempt == 1:\n    stop("Waiting")\n' + textwrap.dedent(GATED)  # Waiting first, then gated


def _started(tmp_path: Path, process) -> None:
    wait_until(lambda: (tmp_path / "started").exists() or process.poll() is not None, what="the slow block")
    assert process.poll() is None, process.communicate()


def _json(result) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---- due or not: one rule ---------------------------------------------------------


@pytest.mark.every_backend
def test_a_job_waiting_for_input_is_not_run_again_until_the_input_arrives(psflow, write, tmp_path):
    write("ap.py", APPROVAL)
    assert psflow("exec", "ap.py", "--job", "w1").returncode == 3

    resumed = psflow("resume")
    once = psflow("worker", "--once")

    assert resumed.returncode == 0 and "skipped: waiting for input approval" in resumed.stderr, resumed.stderr
    assert once.returncode == 0 and "skipped: waiting for input approval" in once.stderr, once.stderr
    assert detail(psflow, "w1")["attempts"] == 1  # no attempt ran again
    assert (tmp_path / "step1.count").read_text() == "1"


def test_worker_once_says_nothing_of_a_job_running_fine_elsewhere_unless_running_was_asked_for(psflow, write, tmp_path):
    """By default a worker takes Running jobs only from a runner that is gone: one running fine is no news."""
    write("gated.py", GATED)
    running = start(psflow.db_url, tmp_path, "exec", "gated.py", "--job", "busy")
    try:
        _started(tmp_path, running)
        by_default = psflow("worker", "--once")
        asked = psflow("worker", "--once", "--status", "Running")
    finally:
        (tmp_path / "gate").touch()
        running.communicate(timeout=60)

    assert by_default.returncode == 0 and "busy" not in by_default.stderr, by_default.stderr
    assert "worker ran 0 job(s)" in by_default.stderr
    assert asked.returncode == 0 and "job busy: skipped: Running on" in asked.stderr, asked.stderr
    assert detail(psflow, "busy")["attempts"] == 1  # neither took it


@pytest.mark.every_backend
def test_a_running_worker_takes_a_job_again_whenever_it_becomes_due(psflow, write, tmp_path):
    write("ap.py", APPROVAL)
    write(
        "flaky.py",
        'from pathlib import Path\nwith block("A"):\n    if not Path("fixed").exists():\n        raise RuntimeError("boom")\n',
    )
    assert psflow("exec", "ap.py", "--job", "w1").returncode == 3
    worker = start(psflow.db_url, tmp_path, "worker", "--poll", "0.2")
    try:
        assert psflow("send", "w1", "approval=frank").returncode == 0
        wait_until(lambda: detail(psflow, "w1")["status"] == "Completed", what="the worker to take w1 after send")

        assert psflow("exec", "flaky.py", "--job", "f1").returncode == 1
        (tmp_path / "fixed").touch()
        assert psflow("retry", "f1").returncode == 0
        wait_until(lambda: detail(psflow, "f1")["status"] == "Completed", what="the worker to take f1 after retry")

        assert psflow("rerun", "f1", "--only", "A").returncode == 0
        wait_until(lambda: detail(psflow, "f1")["attempts"] == 3, what="the worker to take f1 after rerun")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 143, err
    assert detail(psflow, "w1")["attempts"] == 2 and (tmp_path / "step1.count").read_text() == "1"
    assert "approved by frank" in out


def test_jobs_says_what_each_job_waits_for_and_checks_statuses(psflow, write, tmp_path):
    write("ap.py", APPROVAL)
    write("nap.py", "sleep(3600)\n")
    psflow("exec", "ap.py", "--job", "in")
    psflow("exec", "nap.py", "--job", "timer")

    listed = {job["id"]: job["waits"] for job in _json(psflow("jobs", "--json"))}
    shown = psflow("jobs")
    wrong = psflow("jobs", "--status", "waiting")

    assert listed["in"].startswith("input approval since") and listed["timer"].startswith("timer ")
    assert "WAITS FOR" in shown.stdout and "input approval since" in shown.stdout
    assert "waits for timer " in psflow("job", "timer").stdout
    assert wrong.returncode == 2 and "no job has status 'waiting' (did you mean 'Waiting'?)" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_status_lists_what_needs_a_look(psflow, write, tmp_path):
    write("ap.py", APPROVAL)
    write("nap.py", "sleep(600)\n")
    write("boom.py", 'raise RuntimeError("boom")\n')
    for name in ("ap", "nap", "boom"):
        psflow("exec", f"{name}.py", "--job", name)

    report = _json(psflow("status", "--json"))
    shown = psflow("status")

    assert report["counts"] == {"Failed": 1, "Waiting": 2}
    assert [row["input"] for row in report["waiting_for_input"]] == ["approval"]
    assert [row["id"] for row in report["timers_next_hour"]] == ["nap"]
    assert [row["id"] for row in report["failed_last_24h"]] == ["boom"] and report["lapsed_leases"] == []
    assert shown.returncode == 0 and "waiting for input" in shown.stdout and "RuntimeError: boom" in shown.stdout


# ---- What happens when… ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code", "reason"),
    [
        (signal.SIGINT, 130, "interrupted by Ctrl-C (SIGINT)"),
        (signal.SIGTERM, 143, "terminated (SIGTERM)"),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_to_exec_interrupts_the_block_and_the_job_resumes_later(psflow, write, tmp_path, signum, code, reason):
    write("gated.py", GATED)
    process = start(psflow.db_url, tmp_path, "exec", "gated.py", "--job", "g1")
    _started(tmp_path, process)

    os.killpg(process.pid, signum)  # the whole group, as a terminal's Ctrl-C or `timeout` does
    _, err = process.communicate(timeout=60)

    assert process.returncode == code, err
    assert (tmp_path / "finally").read_text() == "1"  # the script's own `finally` ran
    job = detail(psflow, "g1")
    assert (job["status"], job["reason"], job["lease_until"]) == ("Interrupted", reason, None)
    assert [(run["name"], run["status"]) for run in job["runs"]] == [("First", "Completed"), ("Slow", "Interrupted")]
    (tmp_path / "gate").touch()
    resumed = psflow("resume", "--status", "Interrupted")
    assert resumed.returncode == 0 and "last 1" in resumed.stdout, resumed.stderr


def test_ctrl_c_to_resume_interrupts_the_running_job_and_takes_no_other(psflow, write, tmp_path):
    write("gated.py", GATED_LATER)
    for job_id in ("q1", "q2"):
        assert psflow("exec", "gated.py", "--job", job_id).returncode == 3
    process = start(psflow.db_url, tmp_path, "resume")
    _started(tmp_path, process)

    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 130, err
    statuses = sorted(job["status"] for job in _json(psflow("jobs", "--json")))
    assert statuses == ["Interrupted", "Waiting"]  # one interrupted, the other never taken
    assert (tmp_path / "finally").exists()


def test_sigterm_to_a_worker_s_group_finishes_the_block_and_hands_the_job_back(psflow, write, tmp_path):
    write("gated.py", GATED_LATER)
    assert psflow("exec", "gated.py", "--job", "h1").returncode == 3
    process = start(psflow.db_url, tmp_path, "worker", "--poll", "0.2")
    _started(tmp_path, process)

    os.killpg(process.pid, signal.SIGTERM)  # systemd, `timeout`, a terminal: every process of the group
    _read_until(process, "shutting down")
    (tmp_path / "gate").touch()
    _, err = process.communicate(timeout=60)

    assert process.returncode == 143, err
    job = detail(psflow, "h1")
    assert (job["status"], job["lease_until"]) == ("Waiting", None) and "handed back" in job["reason"]
    assert [(run["name"], run["status"]) for run in job["runs"]][-1] == ("Slow", "Completed")
    assert "Last" not in [run["name"] for run in job["runs"]]


def test_a_second_signal_to_a_worker_interrupts_the_block(psflow, write, tmp_path):
    write("gated.py", GATED_LATER)
    assert psflow("exec", "gated.py", "--job", "h2").returncode == 3
    process = start(psflow.db_url, tmp_path, "worker", "--poll", "0.2")
    _started(tmp_path, process)

    os.killpg(process.pid, signal.SIGTERM)
    _read_until(process, "shutting down")
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 143, err  # the first signal decides the exit code
    job = detail(psflow, "h2")
    assert job["status"] == "Interrupted" and (tmp_path / "finally").exists()


def _read_until(process, text: str) -> None:
    """Read the command's stderr line by line until a line has `text` (it prints it once it acted)."""
    for line in process.stderr:
        if text in line:
            return
    raise AssertionError(f"{text!r} never came")


def test_sigkill_of_exec_lets_this_host_take_the_job_at_once(psflow, write, tmp_path):
    write("gated.py", GATED)
    process = start(psflow.db_url, tmp_path, "exec", "gated.py", "--job", "k1")
    _started(tmp_path, process)

    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    listed = {job["id"]: job["waits"] for job in _json(psflow("jobs", "--json"))}
    (tmp_path / "gate").touch()
    resumed = psflow("resume", "--status", "Running")  # no minute-long wait for the lease

    assert listed["k1"].startswith("runner gone")
    assert resumed.returncode == 0 and "last 1" in resumed.stdout, resumed.stderr
    assert detail(psflow, "k1")["status"] == "Completed"


@pytest.mark.parametrize(
    "command",
    [
        ("resume", "--job", "c1", "--job", "ok"),
        ("resume", "--status", "Waiting"),
        ("send", "c1", "x=1", "--resume"),
    ],
    ids=["resume-job", "resume-status", "send-resume"],
)
def test_a_job_that_kills_its_process_fails_alone(psflow, write, tmp_path, command):
    write("crash.py", 'import os\nif job.attempt == 1:\n    stop("Waiting")\nwith block("Boom"):\n    os._exit(9)\n')
    write("ok.py", 'if job.attempt == 1:\n    stop("Waiting")\nprint("ok ran")\n')
    assert psflow("exec", "crash.py", "--job", "c1").returncode == 3
    assert psflow("exec", "ok.py", "--job", "ok").returncode == 3

    result = psflow(*command)

    assert result.returncode == 1, result.stderr
    assert "worker process" in result.stderr and "died (exit status 9)" in result.stderr
    crashed = detail(psflow, "c1")
    assert crashed["status"] == "Failed" and "died (exit status 9)" in crashed["reason"]
    if command[0] == "resume":
        assert "ok ran" in result.stdout and detail(psflow, "ok")["status"] == "Completed"
