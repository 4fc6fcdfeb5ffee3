"""Durable timers: `sleep(seconds)` and `sleep_until(datetime)` in a script; resume and worker skip until due."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from support.cli import PSFLOW
from support.database import timers_run_out
from support.scripts import detail

# Sleeps for sys.argv[1] seconds (1 by default): tests that must catch it asleep give it time
# for a few psflow processes to start, tests that only wait for it to wake keep it short.
NAP = """
    import sys
    with block("Before"):
        print("before ran in attempt", job.attempt)
    sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 1)
    print("woke in attempt", job.attempt)
"""


def _wait_until(epoch: float) -> None:
    time.sleep(max(0.0, epoch - time.time()) + 0.05)


def _runs(psflow, job_id: str) -> list[tuple[str, str, int]]:
    return [(run["name"], run["status"], run["attempt"]) for run in detail(psflow, job_id)["runs"]]


def test_sleep_stops_the_job_waiting_with_a_due_time(psflow, write, jobs):
    write("nap.py", NAP)
    before = time.time()

    result = psflow("exec", "nap.py", "--job", "nap")

    after = time.time()
    assert result.returncode == 3, result.stderr
    assert result.stdout == "before ran in attempt 1\n"
    [job] = jobs()
    assert job["status"] == "Waiting"
    assert before + 1 <= job["due"] <= after + 1
    assert job["reason"].startswith("sleeping until ")
    assert f"job nap: Waiting ({job['reason']})" in result.stderr


def test_resume_skips_the_job_before_it_is_due_and_runs_it_after(psflow, write, jobs):
    write("nap.py", NAP)
    write("plain.py", 'stop("Waiting")\n')
    assert psflow("exec", "plain.py", "--job", "plain").returncode == 3
    assert psflow("exec", "nap.py", "600", "--job", "nap").returncode == 3

    early = psflow("resume")

    assert early.returncode == 0, early.stderr
    assert early.stdout == ""
    assert "psflow: job nap: skipped: sleeping until " in early.stderr
    assert "psflow: resumed 2 job(s) in Waiting: 1 Waiting, 1 skipped" in early.stderr
    named = psflow("resume", "--job", "nap")
    assert "job nap: skipped: sleeping until" in named.stderr
    assert {job["id"]: job["attempts"] for job in jobs()}["nap"] == 1

    timers_run_out(psflow.db_url, "nap")
    late = psflow("resume")

    assert late.returncode == 0, late.stderr
    assert late.stdout == "woke in attempt 2\n"
    assert "job nap: Completed — attempt 2, 0 block(s) ran, 2 replayed" in late.stderr
    nap = {job["id"]: job for job in jobs()}["nap"]
    assert (nap["status"], nap["due"]) == ("Completed", None)
    # The timer was set once, in attempt 1, and replayed in attempt 2 (not set again).
    assert _runs(psflow, "nap") == [("Before", "Completed", 1), ("sleep", "Completed", 1)]
    assert psflow("jobs").stdout.splitlines()[1].split()[3] == "-"  # a Completed job waits for nothing


def test_a_resumed_job_does_not_sleep_again_from_scratch(psflow, write, tmp_path, jobs):
    write(
        "hold.py",
        """
        from pathlib import Path
        sleep(1)
        print("past the timer in attempt", job.attempt)
        if Path("hold").exists():
            stop("OnHold")
        sleep(1)
        print("past the second timer in attempt", job.attempt)
        """,
    )
    (tmp_path / "hold").write_text("")
    assert psflow("exec", "hold.py", "--job", "h").returncode == 3
    _wait_until(jobs()[0]["due"])
    held = psflow("resume")
    assert held.stdout == "past the timer in attempt 2\n"
    assert jobs()[0]["status"] == "OnHold"
    (tmp_path / "hold").unlink()

    second = psflow("resume", "--status", "OnHold")  # the first timer is over: straight to the second

    assert second.stdout == "past the timer in attempt 3\n"
    assert jobs()[0]["status"] == "Waiting"
    _wait_until(jobs()[0]["due"])
    last = psflow("resume")
    assert last.stdout == "past the timer in attempt 4\npast the second timer in attempt 4\n"
    assert [run for run in _runs(psflow, "h") if run[0].startswith("sleep")] == [
        ("sleep", "Completed", 1),
        ("sleep#2", "Completed", 3),
    ]


def test_timers_inside_a_block_do_not_shift_the_ones_after_it(psflow, write, jobs):
    # Once "Provision" completes its body no longer runs, so its timer is not reached;
    # the timer after it must still be its own, not the block's replayed one.
    write(
        "scoped.py",
        """
        with block("Provision"):
            sleep(1)
            print("provisioned in attempt", job.attempt)
        sleep(1)
        print("done in attempt", job.attempt)
        """,
    )
    assert psflow("exec", "scoped.py", "--job", "s").returncode == 3
    _wait_until(jobs()[0]["due"])
    assert psflow("resume").stdout == "provisioned in attempt 2\n"
    assert jobs()[0]["status"] == "Waiting"
    _wait_until(jobs()[0]["due"])

    result = psflow("resume")

    assert result.stdout == "done in attempt 3\n"
    assert jobs()[0]["status"] == "Completed"
    assert [run for run in _runs(psflow, "s") if "sleep" in run[0]] == [
        ("Provision/sleep", "Completed", 1),
        ("sleep", "Completed", 2),
    ]


def test_a_due_time_in_the_past_just_continues(psflow, write, jobs):
    write(
        "past.py",
        """
        from datetime import datetime, timedelta, timezone
        sleep(0)
        sleep(timedelta(0))
        sleep_until(datetime(2000, 1, 1))
        sleep_until(datetime.now(timezone.utc) - timedelta(seconds=5))
        print("no waiting")
        """,
    )

    result = psflow("exec", "past.py")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "no waiting\n"
    assert jobs()[0]["due"] is None


def test_naive_datetimes_are_local_time_and_aware_ones_keep_their_zone(psflow, write, jobs):
    write("naive.py", "from datetime import datetime\nsleep_until(datetime(2100, 1, 1, 12, 0))\n")
    write(
        "aware.py",
        "from datetime import datetime, timezone\nsleep_until(datetime(2100, 1, 1, 12, 0, tzinfo=timezone.utc))\n",
    )
    tokyo = {"TZ": "JST-9"}  # POSIX TZ: UTC+9, no tz database needed

    assert psflow("exec", "naive.py", "--job", "naive", env=tokyo).returncode == 3
    assert psflow("exec", "aware.py", "--job", "aware", env=tokyo).returncode == 3

    found = {job["id"]: job for job in jobs()}
    local_noon = datetime(2100, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=9)))
    assert found["naive"]["due"] == local_noon.timestamp()
    assert found["naive"]["reason"] == "sleeping until 2100-01-01 12:00:00+09:00"
    assert found["aware"]["due"] == datetime(2100, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    assert found["aware"]["reason"] == "sleeping until 2100-01-01 21:00:00+09:00"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("sleep(-1)", "sleep() needs a duration of 0 or more seconds, not -1"),
        ("sleep('1h')", "sleep() needs seconds or a timedelta, not str"),
        ("sleep_until('2100-01-01')", "sleep_until() needs a datetime, not str"),
        ("wait_for('approval', timeout=-5)", "wait_for() timeout needs a duration of 0 or more seconds"),
    ],
)
def test_bad_timer_arguments_fail_the_job_with_what_was_expected(psflow, write, jobs, call, message):
    write("bad.py", f"{call}\n")

    result = psflow("exec", "bad.py")

    assert result.returncode == 1
    assert message in result.stderr
    assert jobs()[0]["status"] == "Failed"


def test_worker_once_skips_jobs_that_are_not_due(psflow, write, jobs):
    write("long.py", "sleep(3600)\nprint('woke')\n")
    write("ready.py", "print('ready ran in attempt', job.attempt)\nif job.attempt == 1:\n    stop('Waiting')\n")
    assert psflow("exec", "long.py", "--job", "long").returncode == 3
    assert psflow("exec", "ready.py", "--job", "ready").returncode == 3

    for command in (("worker", "--once"), ("resume", "--parallel", "2")):
        result = psflow(*command)

        assert result.returncode == 0, result.stderr
        assert "psflow: job long: skipped: sleeping until " in result.stderr
        assert "1 skipped" in result.stderr.splitlines()[-1]
        assert "woke" not in result.stdout
        assert {job["id"]: job["attempts"] for job in jobs()}["long"] == 1
    assert {job["id"]: job["status"] for job in jobs()} == {"long": "Waiting", "ready": "Completed"}


def test_a_running_worker_takes_a_sleeping_job_each_time_it_is_due(psflow, write, tmp_path, jobs):
    write("twice.py", "sleep(1)\nprint('first timer over')\nsleep(1)\nprint('second timer over')\n")
    assert psflow("exec", "twice.py", "--job", "tw").returncode == 3
    environment = {key: value for key, value in os.environ.items() if key != "PSFLOW_JOB_ID"}
    environment.update({"PSFLOW_DB": psflow.db_url, "NO_COLOR": "1"})
    worker = subprocess.Popen(
        [PSFLOW, "worker", "--poll", "0.2"],
        cwd=tmp_path,
        env=environment,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while jobs()[0]["status"] != "Completed" and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)

    assert jobs()[0]["status"] == "Completed", err
    assert out == "first timer over\nfirst timer over\nsecond timer over\n"
    assert [run for run in _runs(psflow, "tw") if run[0].startswith("sleep")] == [
        ("sleep", "Completed", 1),
        ("sleep#2", "Completed", 2),
    ]
