"""Exactly one runner: several `psflow resume` processes over the same waiting jobs.

Every job runs exactly once and every block body's side effect happens exactly
once, on SQLite and on PostgreSQL. A runner killed with SIGKILL mid-block leaves
its job Running; once the lease runs out, resume re-runs that block only.
"""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from psflow import api
from support.cli import PSFLOW, environment

pytestmark = pytest.mark.every_backend

SCRIPT = textwrap.dedent(
    """\
    import os, sys
    log = sys.argv[1]
    def effect(text):
        # O_APPEND writes of one short line are atomic across processes.
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, f"{job.id} {text} {os.getpid()}\\n".encode())
        os.close(fd)
    with block("one"):
        effect("one")
    if job.attempt == 1:
        stop("Waiting")
    with block("two"):
        effect("two")
    with block("three"):
        effect("three")
    """
)


def test_four_resumers_run_each_of_200_jobs_exactly_once(tmp_path: Path, db_url: str) -> None:
    script, log = tmp_path / "flow.py", tmp_path / "effects.log"
    script.write_text(SCRIPT)
    ids = [api.run(script, [str(log)], db=db_url).job_id for _ in range(200)]
    assert len(set(ids)) == 200

    runners = [
        subprocess.Popen(
            [PSFLOW, "resume"],
            env=environment(db_url),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(4)
    ]
    outputs = [runner.communicate(timeout=300) for runner in runners]
    assert [runner.returncode for runner in runners] == [0, 0, 0, 0], outputs

    effects = Counter(" ".join(line.split()[:2]) for line in log.read_text().splitlines())
    assert set(effects.values()) == {1}
    assert len(effects) == 600  # 200 jobs × 3 blocks, each body once
    runs_by_pid = Counter(line.split()[2] for line in log.read_text().splitlines() if " two " in line)
    assert sum(runs_by_pid.values()) == 200
    jobs = api.jobs(db=db_url)
    assert {job["status"] for job in jobs} == {"Completed"}
    assert {job["attempts"] for job in jobs} == {2}


KILLED = textwrap.dedent(
    """\
    import os, sys, time
    log, gate = sys.argv[1], sys.argv[2]
    def effect(text):
        with open(log, "a") as file:
            file.write(f"{text} attempt {job.attempt}\\n")
    with block("before"):
        effect("before")
    with block("slow"):
        effect("slow started")
        while not os.path.exists(gate):
            time.sleep(0.05)
        effect("slow done")
    with block("after"):
        effect("after")
    """
)


def test_sigkill_mid_block_then_resume_reruns_only_that_block(tmp_path: Path, db_url: str) -> None:
    script, log, gate = tmp_path / "flow.py", tmp_path / "effects.log", tmp_path / "gate"
    script.write_text(KILLED)
    env = environment(db_url, {"PSFLOW_LEASE_SECONDS": "2"})
    runner = subprocess.Popen(
        [PSFLOW, "exec", str(script), str(log), str(gate), "--job", "victim"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while "slow started" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and runner.poll() is None
        time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)
    assert api.job_detail("victim", db=db_url)["status"] == "Running"

    # Its runner was on this host and is gone: no need to wait for the lease (see tests/e2e/test_fencing.py
    # for a runner that is alive but lost its lease).
    gate.write_text("open")
    resumed = subprocess.run(
        [PSFLOW, "resume", "--status", "Running"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert resumed.returncode == 0, resumed.stderr
    assert log.read_text().splitlines() == [
        "before attempt 1",
        "slow started attempt 1",
        "slow started attempt 2",
        "slow done attempt 2",
        "after attempt 2",
    ]
    detail = api.job_detail("victim", db=db_url)
    assert detail["status"] == "Completed" and detail["attempts"] == 2
    assert [(b["name"], b["attempt"]) for b in detail["blocks"]] == [("before", 1), ("slow", 2), ("after", 2)]


def test_heartbeat_keeps_a_long_block_leased(tmp_path: Path, db_url: str) -> None:
    script, log, gate = tmp_path / "flow.py", tmp_path / "effects.log", tmp_path / "gate"
    script.write_text(KILLED)
    env = environment(db_url, {"PSFLOW_LEASE_SECONDS": "1"})
    runner = subprocess.Popen(
        [PSFLOW, "exec", str(script), str(log), str(gate), "--job", "alive"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while "slow started" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and runner.poll() is None
        time.sleep(0.05)
    time.sleep(2.5)  # well past one lease length: only the heartbeat keeps it
    other = subprocess.run(
        [PSFLOW, "resume", "--status", "Running"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    gate.write_text("open")
    assert runner.wait(timeout=60) == 0
    assert other.returncode == 0 and "skipped" in other.stderr, other.stderr
    assert log.read_text().count("slow started") == 1
    assert api.job_detail("alive", db=db_url)["status"] == "Completed"
