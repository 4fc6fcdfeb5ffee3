"""Worker processes: `psflow resume --parallel N` and `psflow worker`, through the real command."""

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
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, f"{job.id} {text} {os.getpid()}\\n".encode())
        os.close(fd)
    with block("one"):
        effect("one")
    if job.attempt == 1:
        stop("Waiting")
    with block("two"):
        if len(sys.argv) > 2 and sys.argv[2] == "crash" and not os.path.exists(sys.argv[3]):
            os._exit(9)
        effect("two")
    os.environ["LEAK"] = job.id      # must not leak into the next job in the same process
    os.chdir("/")
    """
)


def _effects(log: Path) -> Counter:
    return Counter(" ".join(line.split()[:2]) for line in log.read_text().splitlines())


def test_parallel_resume_runs_every_job_once_in_few_processes(tmp_path: Path, db_url: str) -> None:
    script, log = tmp_path / "flow.py", tmp_path / "effects.log"
    script.write_text(SCRIPT)
    ids = [api.run(script, [str(log)], db=db_url).job_id for _ in range(40)]
    done = subprocess.run(
        [PSFLOW, "resume", "--parallel", "2"],
        env=environment(db_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "40 Completed" in done.stderr
    effects = _effects(log)
    assert set(effects.values()) == {1} and len(effects) == 80
    pids = {line.split()[2] for line in log.read_text().splitlines() if " two " in line}
    assert 1 <= len(pids) <= 2  # many jobs per worker process
    assert {job["status"] for job in api.jobs(db=db_url)} == {"Completed"}
    assert set(ids) == {job["id"] for job in api.jobs(db=db_url)}


def test_a_job_that_kills_its_worker_fails_alone_and_can_be_resumed(tmp_path: Path, db_url: str) -> None:
    script, log, fixed = tmp_path / "flow.py", tmp_path / "effects.log", tmp_path / "fixed"
    script.write_text(SCRIPT)
    good = [api.run(script, [str(log)], db=db_url).job_id for _ in range(6)]
    bad = api.run(script, [str(log), "crash", str(fixed)], db=db_url).job_id
    done = subprocess.run(
        [PSFLOW, "resume", "--parallel", "2"],
        env=environment(db_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert f"job {bad}: Failed (worker process" in done.stderr
    statuses = {job["id"]: job["status"] for job in api.jobs(db=db_url)}
    assert statuses[bad] == "Failed" and all(statuses[job_id] == "Completed" for job_id in good)

    fixed.write_text("yes")
    again = subprocess.run(
        [PSFLOW, "resume", "--status", "Failed", "--parallel", "1"],
        env=environment(db_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert api.job_detail(bad, db=db_url)["status"] == "Completed"
    assert _effects(log)[f"{bad} one"] == 1 and _effects(log)[f"{bad} two"] == 1


def test_worker_once_takes_due_jobs_and_exits(tmp_path: Path, db_url: str) -> None:
    script, log = tmp_path / "flow.py", tmp_path / "effects.log"
    script.write_text(SCRIPT)
    for _ in range(5):
        api.run(script, [str(log)], db=db_url)
    done = subprocess.run(
        [PSFLOW, "worker", "--once", "--concurrency", "2"],
        env=environment(db_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert {job["status"] for job in api.jobs(db=db_url)} == {"Completed"}


DIES = textwrap.dedent(
    """\
    import os
    with block("one"):
        with open("one.log", "a") as file:
            file.write("one\\n")
    with block("two"):
        if not os.path.exists("go"):
            os._exit(9)  # the server dies in the middle of the job
        with open("two.log", "a") as file:
            file.write("two\\n")
    """
)


def test_a_worker_takes_over_by_default_a_job_whose_runner_died(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "flow.py").write_text(DIES)
    run = {"env": environment(db_url), "cwd": tmp_path, "capture_output": True, "text": True, "timeout": 120}
    died = subprocess.run([PSFLOW, "exec", "flow.py", "--job", "orphan"], **run)
    assert died.returncode == 9
    assert [job["status"] for job in api.jobs(db=db_url)] == ["Running"]  # its runner gone
    (tmp_path / "go").touch()

    done = subprocess.run([PSFLOW, "worker", "--once"], **run)

    assert done.returncode == 0, done.stderr
    assert [job["status"] for job in api.jobs(db=db_url)] == ["Completed"]
    assert (tmp_path / "one.log").read_text() == "one\n"  # replayed, not run again
    assert (tmp_path / "two.log").read_text() == "two\n"


SLOW = textwrap.dedent(
    """\
    import os, sys, time
    log, gate = sys.argv[1], sys.argv[2]
    def effect(text):
        with open(log, "a") as file:
            file.write(text + "\\n")
    if job.attempt == 1:
        stop("Waiting")
    with block("slow"):
        effect("slow started")
        while not os.path.exists(gate):
            time.sleep(0.05)
        effect("slow done")
    with block("next"):
        effect("next")
    """
)


def test_sigterm_lets_the_block_finish_and_hands_the_job_back(tmp_path: Path, db_url: str) -> None:
    script, log, gate = tmp_path / "flow.py", tmp_path / "effects.log", tmp_path / "gate"
    script.write_text(SLOW)
    job_id = api.run(script, [str(log), str(gate)], db=db_url).job_id
    worker = subprocess.Popen(
        [PSFLOW, "worker", "--poll", "0.2"],
        env=environment(db_url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while "slow started" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    for line in worker.stderr:  # the worker says so once the job's process has been told
        if "shutting down" in line:
            break
    gate.write_text("open")
    _out, err = worker.communicate(timeout=60)
    assert worker.returncode == 143, err  # stopped by SIGTERM
    assert log.read_text().splitlines() == ["slow started", "slow done"]
    detail = api.job_detail(job_id, db=db_url)
    assert detail["status"] == "Waiting" and "handed back" in detail["reason"]
    assert detail["lease_until"] is None
    assert [(b["name"], b["status"]) for b in detail["blocks"]] == [("slow", "Completed")]


FLAKY = textwrap.dedent(
    """\
    import sys
    if job.attempt == 1:
        stop("Waiting")
    with block("flaky", retries=3, backoff=600):
        open(sys.argv[1], "a").write(f"try in attempt {job.attempt}\\n")
        raise ConnectionError("refused")
    """
)


def test_sigterm_during_a_retry_wait_hands_the_job_back_at_once(tmp_path: Path, db_url: str) -> None:
    script, log = tmp_path / "flow.py", tmp_path / "effects.log"
    script.write_text(FLAKY)
    job_id = api.run(script, [str(log)], db=db_url).job_id
    worker = subprocess.Popen(
        [PSFLOW, "worker", "--poll", "0.2"],
        env=environment(db_url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    for line in worker.stderr:  # printed as the 600 s wait before try 2 begins
        if "try 1 of 4 failed (ConnectionError: refused); trying again in 10m" in line:
            break
    worker.send_signal(signal.SIGTERM)
    _out, err = worker.communicate(timeout=60)  # far less than the backoff: the wait noticed the shutdown
    assert worker.returncode == 143, err  # stopped by SIGTERM
    detail = api.job_detail(job_id, db=db_url)
    assert detail["status"] == "Waiting" and "handed back" in detail["reason"]
    [run] = [run for run in detail["runs"] if run["name"] == "flaky"]
    assert (run["status"], run["tries"]) == ("Stopped", 1)
    assert "try 1 of 4 failed:" in run["error"]


def test_lines_printed_by_parallel_jobs_never_tear(tmp_path: Path, db_url: str) -> None:
    """Each child writes whole lines, even when PYTHONUNBUFFERED makes print() two writes."""
    script = tmp_path / "chatty.py"
    script.write_text(
        "import sys\nif job.attempt == 1:\n    stop('Waiting')\n"
        "for i in range(3000):\n    print(f'{sys.argv[1]} line {i}')\n"
    )
    for name in ("alpha", "beta"):
        api.run(script, [name], db=db_url, job_id=name)
    done = subprocess.run(
        [PSFLOW, "resume", "--parallel", "2"],
        env=environment(db_url, {"PYTHONUNBUFFERED": "1"}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(lines) == sorted(f"{name} line {i}" for name in ("alpha", "beta") for i in range(3000))
