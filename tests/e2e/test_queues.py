"""Queues through the real `psflow`: submit, worker --queue, a global limit kept by racing workers,
`psflow queue`/`queues`, and what a user is told when a queue holds a job back or an input is wrong."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time
from pathlib import Path

import pytest

from psflow.domain import JobStatus
from psflow.store import open_store
from support import cli

GATED = textwrap.dedent(
    """\
    import os, sys, time
    gate = sys.argv[1]
    block "work":
        open(gate + ".started", "w").close()
        while not os.path.exists(gate):   # the test opens the gate: no sleep stands in for an event
            time.sleep(0.02)
    """
)
QUICK = 'import sys\nblock "say":\n    print("ran", *sys.argv[1:])\n'


def _statuses(db_url: str) -> dict[str, str]:
    with open_store(db_url, create=False) as store:
        return {job.id: job.status for job in store.list_jobs()}


def _wait(condition, what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_submit_prints_the_id_and_a_worker_of_its_queue_runs_it(psflow, tmp_path: Path):
    (tmp_path / "flow.py").write_text(QUICK)
    submitted = psflow("submit", "flow.py", "a", "--queue", "deploy", "--priority", "3", "--job", "nightly-1")
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout == "nightly-1\n"  # plain: id=$(psflow submit …)
    assert "Queued in queue deploy" in submitted.stderr
    shown = json.loads(psflow("job", "nightly-1", "--json").stdout)
    assert (shown["status"], shown["queue"], shown["priority"], shown["attempts"]) == ("Queued", "deploy", 3, 0)
    listed = psflow("jobs").stdout
    assert "QUEUE" in listed and "deploy" in listed
    assert "queue     deploy, priority 3" in psflow("job", "nightly-1").stdout

    again = psflow("submit", "flow.py", "a", "--queue", "deploy", "--job", "nightly-1")
    assert (again.returncode, again.stdout) == (0, "nightly-1\n")  # the id is an idempotency key
    assert "submitted already (Queued): nothing new was submitted" in again.stderr

    ran = psflow("worker", "--once", "--queue", "deploy")
    assert ran.returncode == 0, ran.stderr
    assert "ran a" in ran.stdout
    assert _statuses(psflow.db_url) == {"nightly-1": JobStatus.COMPLETED}


def test_a_generated_id_is_printed_and_resume_takes_queued_jobs_by_default(psflow, tmp_path: Path):
    (tmp_path / "flow.py").write_text(QUICK)
    job_id = psflow("submit", "flow.py").stdout.strip()
    assert _statuses(psflow.db_url) == {job_id: JobStatus.QUEUED}
    resumed = psflow("resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _statuses(psflow.db_url) == {job_id: JobStatus.COMPLETED}


def test_a_worker_takes_only_its_queues_and_without_queue_every_queue(psflow, tmp_path: Path):
    (tmp_path / "flow.py").write_text(QUICK)
    ids = {queue: psflow("submit", "flow.py", queue, "--queue", queue).stdout.strip() for queue in ("a", "b", "c")}
    ids["default"] = psflow("submit", "flow.py", "default").stdout.strip()
    ran = psflow("worker", "--once", "--queue", "a", "--queue", "b")
    assert ran.returncode == 0, ran.stderr
    assert "taking Waiting, Interrupted, Queued, Running jobs of queue a, b" in ran.stderr
    statuses = _statuses(psflow.db_url)
    assert {queue: statuses[job_id] for queue, job_id in ids.items()} == {
        "a": "Completed",
        "b": "Completed",
        "c": "Queued",
        "default": "Queued",
    }
    assert psflow("worker", "--once").returncode == 0
    assert set(_statuses(psflow.db_url).values()) == {"Completed"}


def test_queue_sets_shows_and_lists_limits(psflow, tmp_path: Path):
    (tmp_path / "flow.py").write_text(QUICK)
    psflow("submit", "flow.py", "--queue", "build")
    limited = psflow("queue", "deploy", "--limit", "2")
    assert limited.returncode == 0, limited.stderr
    assert "queue deploy: at most 2 job(s) Running at once" in limited.stderr
    assert json.loads(psflow("queue", "deploy", "--json").stdout) == {
        "name": "deploy",
        "limit": 2,
        "running": 0,
        "due": 0,
        "waiting": 0,
        "other": 0,
    }
    listed = json.loads(psflow("queues", "--json").stdout)
    assert [(queue["name"], queue["limit"], queue["due"]) for queue in listed] == [("build", None, 1), ("deploy", 2, 0)]
    table = psflow("queues").stdout.splitlines()
    assert table[0].split() == ["QUEUE", "LIMIT", "RUNNING", "DUE", "WAITING", "OTHER"]
    assert psflow("queue", "deploy", "--no-limit").returncode == 0
    assert json.loads(psflow("queue", "deploy", "--json").stdout)["limit"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["queue", "bad name", "--limit", "2"], "queue name 'bad name' is not valid"),
        (["queue", "-x", "--limit", "2"], "No such option: -x"),
        (["queue", "deploy", "--limit", "0"], "--limit 0 is not a limit: give 1 or more"),
        (["queue", "deploy", "--limit", "many"], "'many' is not a valid int"),
        (["queue", "deploy", "--limit", "2", "--no-limit"], "--limit and --no-limit cannot be combined"),
        (["submit", "missing.py"], "script not found"),
        (["submit", "flow.py", "--queue", "a/b"], "queue name 'a/b' is not valid"),
        (["submit", "flow.py", "--priority", "99999999"], "--priority 99999999 is out of range"),
        (["submit", "flow.py", "--priority", "high"], "'high' is not a valid int"),
        (["worker", "--once", "--queue", ""], "queue name '' is not valid"),
        (["resume", "--queue", "deploy", "--job", "abc"], "--queue chooses among the due jobs, --job names them"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(psflow, tmp_path: Path, args: list[str], message: str):
    (tmp_path / "flow.py").write_text(QUICK)
    done = psflow(*args)
    assert done.returncode == 2, done.stderr
    assert message in " ".join(done.stderr.replace("│", " ").split())  # click's own errors come boxed
    assert "Traceback" not in done.stderr


def test_submit_under_the_id_of_another_job_is_refused(psflow, tmp_path: Path):
    (tmp_path / "flow.py").write_text(QUICK)
    (tmp_path / "other.py").write_text(QUICK)
    assert psflow("submit", "flow.py", "a", "--job", "j1").returncode == 0
    for args, message in [
        (["other.py", "a"], "job j1 exists already and runs"),
        (["flow.py", "b"], "job j1 exists already with arguments ['a'], not ['b']"),
        (["flow.py", "a", "--queue", "deploy"], "job j1 exists already in queue default, not deploy"),
    ]:
        done = psflow("submit", *args, "--job", "j1")
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert message in done.stderr


def test_a_job_held_back_by_its_queue_says_why(psflow, tmp_path: Path):
    (tmp_path / "gated.py").write_text(GATED)
    gate = tmp_path / "gate"
    psflow("queue", "deploy", "--limit", "1")
    first = psflow("submit", "gated.py", str(gate), "--queue", "deploy", "--job", "first").stdout.strip()
    second = psflow(
        "submit", "gated.py", str(tmp_path / "gate2"), "--queue", "deploy", "--job", "second"
    ).stdout.strip()
    (tmp_path / "gate2").touch()
    worker = cli.start(psflow.db_url, tmp_path, "worker", "--once", "--queue", "deploy")
    try:
        _wait(lambda: Path(f"{gate}.started").exists(), "the first job to start")
        assert _statuses(psflow.db_url) == {first: "Running", second: "Queued"}
        held = psflow("resume", "--job", second)
        assert held.returncode == 0, held.stderr
        assert f"job {second}: skipped: queue deploy is at its limit (1 of 1 running)" in held.stderr
        planned = psflow("resume", "--dry-run", "--status", "Queued")
        assert "queue deploy is at its limit (1 of 1 running)" in planned.stdout + planned.stderr
        gate.touch()
        _out, err = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert worker.returncode == 0, err
    assert _statuses(psflow.db_url) == {first: "Completed", second: "Completed"}  # the one-sweep took it after


@pytest.mark.every_backend
def test_four_workers_racing_never_run_more_than_the_queue_limit(psflow, tmp_path: Path):
    """12 jobs on a queue limited to 2, four `psflow worker`s of 2 processes each. The test opens the gate
    of each job it sees Running; a sampler reads the number Running every 50 ms: never above 2."""
    (tmp_path / "gated.py").write_text(GATED)
    gates = tmp_path / "gates"
    gates.mkdir()
    assert psflow("queue", "deploy", "--limit", "2").returncode == 0
    ids = [
        psflow("submit", "gated.py", str(gates / f"g{number}"), "--queue", "deploy").stdout.strip()
        for number in range(12)
    ]
    assert len(set(ids)) == 12 and all(ids)
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        with open_store(psflow.db_url, create=False) as store:
            while not stop.is_set():
                samples.append(_running(store))
                stop.wait(0.05)

    def _running(store) -> int:
        return sum(1 for job in store.list_jobs([JobStatus.RUNNING]) if job.queue == "deploy")

    sampler = threading.Thread(target=sample)
    sampler.start()
    workers = [
        cli.start(psflow.db_url, tmp_path, "worker", "--queue", "deploy", "--concurrency", "2", "--poll", "0.1")
        for _ in range(4)
    ]
    try:
        _wait(lambda: 2 in samples, "the sampler to see the queue full")  # no gate opens before: it stays full
        with open_store(psflow.db_url, create=False) as store:

            def release_running() -> bool:
                jobs = store.list_jobs()
                for job in jobs:
                    if job.status == JobStatus.RUNNING:
                        Path(job.args[0]).touch()  # its block may end now
                return all(job.status == JobStatus.COMPLETED for job in jobs)

            _wait(release_running, "every job to complete", seconds=300)
    finally:
        stop.set()
        sampler.join()
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        outputs = [worker.communicate(timeout=60) for worker in workers]
    assert samples and max(samples) <= 2, samples
    assert _statuses(psflow.db_url) == dict.fromkeys(ids, "Completed")
    assert all(worker.returncode == 143 for worker in workers), outputs
    ran = [line for _out, err in outputs for line in err.splitlines() if ": Completed — attempt 1" in line]
    assert len(ran) == 12  # each job ran once, in one attempt


def test_a_submitted_job_handed_back_by_a_worker_shutdown_is_waiting(psflow, tmp_path: Path):
    (tmp_path / "gated.py").write_text(GATED + 'block "after":\n    pass\n')
    gate = tmp_path / "gate"
    job_id = psflow("submit", "gated.py", str(gate)).stdout.strip()
    worker = cli.start(psflow.db_url, tmp_path, "worker", "--poll", "0.2")
    try:
        _wait(lambda: Path(f"{gate}.started").exists(), "the job to start")
        worker.send_signal(signal.SIGTERM)
        for line in worker.stderr:  # the worker says so once the job's process has been told
            if "shutting down" in line:
                break
        gate.touch()
        _out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert worker.returncode == 143, err
    shown = json.loads(psflow("job", job_id, "--json").stdout)
    assert (shown["status"], shown["attempts"]) == ("Waiting", 1)  # it has run: no longer Queued
    assert [(block["name"], block["status"]) for block in shown["blocks"]] == [("work", "Completed")]
