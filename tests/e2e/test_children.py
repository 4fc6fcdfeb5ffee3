"""Child jobs through the real `psflow`, on SQLite and PostgreSQL: a parent fans out to child jobs that
`psflow worker` processes run, and completes once with all their results — also when a worker is
SIGKILLed in the middle; a worker left running while `send`, `retry` and `cancel` change the
fan-out under it; cancel of a parent mid-fan-out; what `psflow jobs`/`psflow job` show; a
bad start(); and a parent run by plain `python`.

Side effects are counted in files (`ran/N` gets one `x` per run of child N's block, `parent.done`
one per run of the parent's last block). Nothing sleeps in place of an event: tests wait for states.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import start
from support.scripts import detail, wait_until

pytestmark = pytest.mark.every_backend

# Child N counts each run of its block; from N = `gated-from` on, the block waits for the file `go`.
CHILD = """
    import sys
    import time
    from pathlib import Path
    n = int(sys.argv[1])
    with block("Work"):
        Path("ran").mkdir(exist_ok=True)
        with open(f"ran/{n}", "a") as mark:
            mark.write("x")
        if Path("gated-from").exists() and n >= int(Path("gated-from").read_text()):
            while not Path("go").exists():
                time.sleep(0.02)
    job.result = n * n
"""

PARENT = """
    import sys
    children = [start("child.py", n) for n in range(int(sys.argv[1]))]
    results = wait_jobs(children)
    with block("Finish"):
        with open("parent.done", "a") as mark:
            mark.write("x")
    job.result = results
"""

LEASE = {"PSFLOW_LEASE_SECONDS": "2"}


@pytest.fixture
def fan_out(write, tmp_path: Path) -> Path:
    write("child.py", CHILD)
    write("parent.py", PARENT)
    return tmp_path


def _ran(folder: Path) -> dict[int, int]:
    return {int(path.name): len(path.read_text()) for path in (folder / "ran").iterdir()}


def _stop(worker: subprocess.Popen) -> str:
    """SIGTERM to the worker's process group (unless it has ended); what it printed to stderr."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
    return worker.communicate(timeout=60)[1]


def _status(psflow, job_id: str) -> str:
    return detail(psflow, job_id)["status"]


def test_a_parent_gets_all_results_from_children_run_by_two_workers(psflow, fan_out: Path) -> None:
    first = psflow("exec", "parent.py", "6", "--job", "p")
    assert first.returncode == 3, first.stderr
    assert "job p: Waiting (waiting for 6 of 6 child jobs)" in first.stderr

    workers = [start(psflow.db_url, fan_out, "worker", "--poll", "0.2") for _ in range(2)]
    try:
        wait_until(lambda: _status(psflow, "p") == "Completed", timeout=120, what="the parent to complete")
    finally:
        for worker in workers:
            _stop(worker)

    shown = detail(psflow, "p")
    assert shown["result"] == [n * n for n in range(6)]
    assert [(child["id"], child["status"], child["result"]) for child in shown["children"]] == [
        (f"p.{n + 1}", "Completed", n * n) for n in range(6)
    ]
    assert _ran(fan_out) == dict.fromkeys(range(6), 1)
    assert (fan_out / "parent.done").read_text() == "x"
    assert detail(psflow, "p.3")["parent"] == "p"


def _child_pids(pid: int) -> set[int]:
    """The processes `pid` started (its worker processes run in sessions of their own)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def test_a_hundred_children_over_three_processes_survive_a_sigkilled_worker(psflow, fan_out: Path) -> None:
    """Children 0-59 run through; 60 and up wait for `go`. Once the three worker processes each hold a
    waiting child, the worker with one process is SIGKILLed (it and its process), then `go` is given:
    the other worker takes the dead worker's child again (its runner is gone) and the rest."""
    (fan_out / "gated-from").write_text("60")
    assert psflow("exec", "parent.py", "100", "--job", "big").returncode == 3
    # Both workers with their default statuses: they take over the jobs of a runner that is gone.
    steady = start(psflow.db_url, fan_out, "worker", "--concurrency", "2", "--poll", "0.2", env=LEASE)
    doomed = start(psflow.db_url, fan_out, "worker", "--concurrency", "1", "--poll", "0.2", env=LEASE)
    try:
        held: list[str] = []

        def each_process_holds_a_gated_child() -> bool:
            running = json.loads(psflow("jobs", "--status", "Running", "--json").stdout)
            held[:] = [job["id"] for job in running if job["pid"] in _child_pids(doomed.pid)]
            gated = all(int(job["args"][0]) >= 60 for job in running)  # not one that ends in a moment
            return len(running) == 3 and len(held) == 1 and gated

        wait_until(each_process_holds_a_gated_child, timeout=120, what="three gated children running")
        completed = json.loads(psflow("jobs", "--status", "Completed", "--json").stdout)
        # The whole server dies at once: its process is frozen first, so the worker never sees it die
        # (a worker that does records the job Failed, "worker process died": a job that kills its
        # process fails alone), then the worker is killed, then its process.
        processes = _child_pids(doomed.pid)
        for pid in processes:
            os.kill(pid, signal.SIGSTOP)
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=60)
        for pid in processes:
            os.kill(pid, signal.SIGKILL)
        (fan_out / "go").write_text("")

        try:
            wait_until(lambda: _status(psflow, "big") == "Completed", timeout=180, what="the parent to complete")
        except AssertionError as timed_out:  # what the jobs and the live worker were at, to tell why
            jobs = psflow("jobs", "--all").stdout
            raise AssertionError(f"{timed_out}\n{jobs}\nthe live worker said:\n{_stop(steady)}") from None
    finally:
        if steady.returncode is None:
            _stop(steady)
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)

    # The middle: most ungated children had run (workers take due jobs of one priority in random order
    # among the few due longest, psflow.service.workers.SPREAD, so some gated ones start early).
    assert len(completed) >= 30
    parent = detail(psflow, "big")
    assert parent["result"] == [n * n for n in range(100)]
    assert (fan_out / "parent.done").read_text() == "x"  # the parent completed exactly once
    [killed] = held
    assert detail(psflow, killed)["status"] == "Completed" and detail(psflow, killed)["attempts"] == 2
    killed_n = int(detail(psflow, killed)["args"][0])
    assert _ran(fan_out) == {n: 2 if n == killed_n else 1 for n in range(100)}  # only it ran again
    assert {child["status"] for child in parent["children"]} == {"Completed"} and len(parent["children"]) == 100


# Child 1 waits for input `approval`; child 2 fails until the file `fixed` exists; the others just run.
MIXED_CHILD = """
    import sys
    from pathlib import Path
    n = int(sys.argv[1])
    with block("Work"):
        Path("ran").mkdir(exist_ok=True)
        with open(f"ran/{n}", "a") as mark:
            mark.write("x")
        if n == 2 and not Path("fixed").exists():
            raise RuntimeError("host 2 is down")
    job.result = wait_for("approval") if n == 1 else n * n
"""


def test_a_running_worker_follows_what_send_retry_and_cancel_do_to_a_fan_out(psflow, write, tmp_path: Path) -> None:
    write("child.py", MIXED_CHILD)
    write("parent.py", PARENT)
    write("other.py", PARENT)
    assert psflow("exec", "parent.py", "4", "--job", "p").returncode == 3

    worker = start(psflow.db_url, tmp_path, "worker", "--poll", "0.2", "--concurrency", "2")
    try:
        wait_until(
            lambda: (
                [child["status"] for child in detail(psflow, "p")["children"]]
                == ["Completed", "Waiting", "Failed", "Completed"]
            ),
            timeout=120,
            what="children 1 and 3 to complete, 1 to wait for input and 2 to fail",
        )
        assert _status(psflow, "p") == "Waiting"  # child 1 has not ended: the parent is not due

        assert psflow("send", "p.2", "approval=yes").returncode == 0
        wait_until(lambda: _status(psflow, "p") == "Failed", timeout=120, what="the parent to fail for child p.3")
        assert "p.3" in detail(psflow, "p")["reason"]

        (tmp_path / "fixed").touch()
        assert psflow("retry", "p.3").returncode == 0
        wait_until(lambda: _status(psflow, "p.3") == "Completed", timeout=120, what="the retried child to complete")
        assert psflow("retry", "p").returncode == 0
        wait_until(lambda: _status(psflow, "p") == "Completed", timeout=120, what="the retried parent to complete")
        assert _ran(tmp_path) == {0: 1, 1: 1, 2: 2, 3: 1}  # only the failed child's block ran again

        assert psflow("exec", "other.py", "2", "--job", "q").returncode == 3
        cancelled = psflow("cancel", "q")
        assert cancelled.returncode == 0, cancelled.stderr
        wait_until(
            lambda: all(child["status"] in ("Completed", "Cancelled") for child in detail(psflow, "q")["children"]),
            timeout=120,
            what="q's children to end",
        )
    finally:
        said = _stop(worker)

    assert worker.returncode in (0, 143), said
    frames = [line for line in said.splitlines() if line.lstrip().startswith('File "')]
    assert frames and all(str(tmp_path) in line for line in frames), said  # the user's scripts', none of psflow's
    assert detail(psflow, "p")["result"] == [0, "yes", 4, 9]
    assert (tmp_path / "parent.done").read_text() == "x"
    assert _status(psflow, "q") == "Cancelled"


def test_cancel_a_parent_mid_fan_out_cancels_the_children_not_ended(psflow, fan_out: Path) -> None:
    assert psflow("exec", "parent.py", "4", "--job", "p").returncode == 3
    assert psflow("resume", "--job", "p.1").returncode == 0

    listed = psflow("jobs")
    shown = psflow("job", "p")
    cancelled = psflow("cancel", "p", "--reason", "window closed")
    later = psflow("worker", "--once")

    assert "3 of 4 child jobs" in listed.stdout
    assert "waits for 3 of 4 child jobs" in shown.stdout and "child jobs (4)" in shown.stdout
    assert cancelled.returncode == 0, cancelled.stderr
    assert "job p: Cancelled (was Waiting): window closed" in cancelled.stderr
    assert "and 3 of its child jobs that had not ended: p.2, p.3, p.4" in cancelled.stderr
    assert later.returncode == 0, later.stderr
    statuses = [(child["id"], child["status"]) for child in detail(psflow, "p")["children"]]
    assert statuses == [("p.1", "Completed"), ("p.2", "Cancelled"), ("p.3", "Cancelled"), ("p.4", "Cancelled")]
    assert _ran(fan_out) == {0: 1}


def test_cancel_keep_children_lets_them_finish(psflow, fan_out: Path) -> None:
    assert psflow("exec", "parent.py", "3", "--job", "p").returncode == 3

    cancelled = psflow("cancel", "p", "--keep-children")
    later = psflow("worker", "--once")

    assert cancelled.returncode == 0 and "child jobs" not in cancelled.stderr
    assert later.returncode == 0, later.stderr
    assert [child["status"] for child in detail(psflow, "p")["children"]] == ["Completed"] * 3
    assert _status(psflow, "p") == "Cancelled" and not (fan_out / "parent.done").exists()


def test_a_start_of_a_missing_script_fails_the_parent_with_one_line(psflow, write, tmp_path: Path) -> None:
    write("bad.py", 'start("nosuch.py", 1)\n')

    result = psflow("exec", "bad.py", "--job", "b")

    assert result.returncode == 2, result.stderr
    assert (
        f"psflow: error: start('nosuch.py'): script not found: {tmp_path / 'nosuch.py'}, and no workflow named "
        "'nosuch.py' is registered; fix: give a script's path (relative to the parent script's folder)"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert _status(psflow, "b") == "Failed"


def test_a_failed_child_fails_its_parent_with_the_child_s_error(psflow, write) -> None:
    write("child.py", 'raise RuntimeError("disk full on web3")\n')
    write("parent.py", 'wait_jobs([start("child.py")])\n')
    assert psflow("exec", "parent.py", "--job", "p").returncode == 3

    ran = psflow("resume")  # the child fails; its end wakes the parent, which this sweep then runs

    assert ran.returncode == 1
    assert "psflow.ChildJobError: child job p.1 Failed: RuntimeError: disk full on web3" in ran.stderr
    assert (
        detail(psflow, "p")["reason"] == "psflow.ChildJobError: child job p.1 Failed: RuntimeError: disk full on web3"
    )


def test_plain_python_runs_children_at_once(write, tmp_path: Path) -> None:
    write("child.py", "import sys\nfrom psflow import job\njob.result = int(sys.argv[1]) * 2\n")
    write(
        "parent.py",
        """
        from psflow import job, start, wait_jobs
        results = wait_jobs([start("child.py", n) for n in (1, 2, 3)])
        print(results, job.result)
        """,
    )

    result = subprocess.run(
        [sys.executable, "parent.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "[2, 4, 6] None\n", "")
