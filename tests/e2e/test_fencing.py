"""A runner that lost its lease writes nothing: the attempt number fences every write it makes.

Reproduced on schema 2: a block holding the GIL longer than the lease, or a runner stopped with
SIGSTOP past it, let a second runner take the job — then both ran the block, the stale runner's
rows won, a job cancelled meanwhile ended Completed, and a `rerun --from` was lost. And four
resumers racing over jobs that stop Waiting crashed on the attempt number's unique index.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from psflow import api
from psflow.store.blocks import run_id
from support.cli import start
from support.database import forge, plant_run
from support.scripts import detail, wait_until

pytestmark = pytest.mark.every_backend

HOLD = """
    import os, re
    from pathlib import Path
    with block("First"):
        Path("started").write_text("1")
    with block("Hold"):
        if not os.environ.get("FAST"):
            re.match(r"(a|aa)+$", "a" * 37 + "b")   # holds the GIL for seconds: no heartbeat meanwhile
        held_by = os.getpid()
    with block("After"):
        Path(f"after-{job.attempt}").write_text(str(held_by))
"""

GATED = """
    import time
    from pathlib import Path
    with block("First"):
        Path(f"first-{job.attempt}").write_text("ran")
    with block("Gated"):
        Path("started").write_text(str(job.attempt))
        while not Path("gate").exists():
            time.sleep(0.02)
    with block("After"):
        Path(f"after-{job.attempt}").write_text("ran")
"""

LEASE = {"PSFLOW_LEASE_SECONDS": "1"}


def _take_over(psflow, job_id: str) -> str:
    """`psflow resume --status Running` until the lapsed job is taken; its stderr."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        taken = psflow("resume", "--status", "Running", "--job", job_id, env={"FAST": "1"})
        if "skipped" not in taken.stderr:
            return taken.stderr
        time.sleep(0.2)  # the lease has not run out yet: a bounded poll for that event
    raise AssertionError("the job was never taken over")


def _lapsed(psflow, job_id: str) -> bool:
    lease = detail(psflow, job_id)["lease_until"]
    return lease is not None and lease < time.time()


def _runs(psflow, job_id: str) -> list[tuple[str, int]]:
    return [(run["name"], run["attempt"]) for run in detail(psflow, job_id)["runs"]]


def test_a_block_holding_the_gil_past_its_lease_records_nothing_once_taken_over(psflow, write, tmp_path):
    write("hold.py", HOLD)
    stale = start(psflow.db_url, tmp_path, "exec", "hold.py", "--job", "gil", env=LEASE)
    wait_until((tmp_path / "started").exists, what="the first block")

    took = _take_over(psflow, "gil")
    _, err = stale.communicate(timeout=120)

    assert "Completed" in took
    assert stale.returncode == 1 and "no longer this runner's" in err, err
    assert _runs(psflow, "gil") == [("First", 1), ("Hold", 2), ("After", 2)]  # nothing of attempt 1 after First
    assert not (tmp_path / "after-1").exists()
    job = detail(psflow, "gil")
    assert (job["status"], job["attempts"]) == ("Completed", 2)
    assert [a["outcome"] for a in job["attempt_history"]] == ["Lost", "Completed"]


def test_a_runner_stopped_past_its_lease_writes_nothing_when_it_continues(psflow, write, tmp_path):
    write("gated.py", GATED)
    stale = start(psflow.db_url, tmp_path, "exec", "gated.py", "--job", "stop", env=LEASE)
    wait_until((tmp_path / "started").exists, what="the gated block")
    os.killpg(stale.pid, signal.SIGSTOP)
    wait_until(lambda: _lapsed(psflow, "stop"), what="the lease to run out")
    (tmp_path / "gate").touch()

    took = _take_over(psflow, "stop")
    os.killpg(stale.pid, signal.SIGCONT)
    _, err = stale.communicate(timeout=60)

    assert "Completed" in took and stale.returncode == 1, err
    assert _runs(psflow, "stop") == [("First", 1), ("Gated", 2), ("After", 2)]
    assert not (tmp_path / "after-1").exists()


def test_a_job_cancelled_while_its_runner_was_stopped_stays_cancelled(psflow, write, tmp_path):
    write("gated.py", GATED)
    stale = start(psflow.db_url, tmp_path, "exec", "gated.py", "--job", "cx", env=LEASE)
    wait_until((tmp_path / "started").exists, what="the gated block")
    os.killpg(stale.pid, signal.SIGSTOP)
    wait_until(lambda: _lapsed(psflow, "cx"), what="the lease to run out")

    cancelled = psflow("cancel", "cx")
    (tmp_path / "gate").touch()
    os.killpg(stale.pid, signal.SIGCONT)
    stale.communicate(timeout=60)

    assert cancelled.returncode == 0, cancelled.stderr
    assert detail(psflow, "cx")["status"] == "Cancelled"
    assert _runs(psflow, "cx") == [("First", 1)]


def test_a_rerun_asked_for_while_its_runner_was_stopped_is_not_lost(psflow, write, tmp_path):
    write("gated.py", GATED)
    stale = start(psflow.db_url, tmp_path, "exec", "gated.py", "--job", "rr", env=LEASE)
    wait_until((tmp_path / "started").exists, what="the gated block")
    os.killpg(stale.pid, signal.SIGSTOP)
    wait_until(lambda: _lapsed(psflow, "rr"), what="the lease to run out")

    rerun = psflow("rerun", "rr", "--from", "First")
    (tmp_path / "gate").touch()
    os.killpg(stale.pid, signal.SIGCONT)
    _, err = stale.communicate(timeout=60)
    resumed = psflow("resume")

    assert rerun.returncode == 0 and "now Waiting" in rerun.stderr, rerun.stderr
    assert stale.returncode == 1 and "no longer this runner's" in err, err
    assert resumed.returncode == 0 and "Completed" in resumed.stderr, resumed.stderr
    assert (tmp_path / "first-2").exists()  # First ran again, as asked
    assert detail(psflow, "rr")["status"] == "Completed"


def test_four_resumers_racing_over_jobs_that_stop_each_time_neither_crash_nor_strand_a_job(psflow, write, tmp_path):
    script = write("again.py", 'with block("Once"):\n    x = 1\nstop("Waiting")\n')
    for index in range(60):  # set up in this process: the race below is what runs the real command
        assert api.run(script, job_id=f"r{index:03d}", db=psflow.db_url).status == "Waiting"

    resumers = [start(psflow.db_url, tmp_path, "resume") for _ in range(4)]
    outcomes = [(resumer.communicate(timeout=300), resumer.returncode) for resumer in resumers]

    assert [code for _, code in outcomes] == [0, 0, 0, 0], [err for (_, err), _ in outcomes]
    assert not any("Traceback" in err or "UNIQUE" in err or "duplicate" in err for (_, err), _ in outcomes)
    with api.connect(psflow.db_url) as store:
        jobs = api.jobs(store=store)
        assert len(jobs) == 60 and {job["status"] for job in jobs} == {"Waiting"}  # none left Running
        for job in jobs:
            numbers = [attempt["number"] for attempt in api.job_detail(job["id"], store=store)["attempt_history"]]
            assert numbers == list(range(1, job["attempts"] + 1))


TWO = """
    from pathlib import Path
    with block("A"):
        a = 1
    if job.attempt == 1:
        stop("Waiting")
    with block("B"):
        Path(f"ran-{job.id}").touch()
"""


def test_a_run_planted_where_the_next_attempt_numbers_its_runs_is_passed_over_not_overwritten(psflow, write):
    """Run ids are attempt << 32 | place: a row someone put at attempt 2's first id before the resume
    stays as it is, and attempt 2 records its runs after it."""
    write("two.py", TWO)
    assert psflow("exec", "two.py", "--job", "planted").returncode == 3
    plant_run(psflow.db_url, "planted", run_id(2, 1), "Planted")

    resumed = psflow("resume", "--job", "planted")

    assert resumed.returncode == 0 and "Completed" in resumed.stderr, resumed.stderr
    assert [(run["name"], run["status"], run["attempt"]) for run in detail(psflow, "planted")["runs"]] == [
        ("A", "Completed", 1),
        ("Planted", "Failed", 2),
        ("B", "Completed", 2),
    ]


RETRIED = """
    import time
    from pathlib import Path
    with block("Flaky", retries=1):
        if not Path("tried").exists():
            Path("tried").touch()
            raise RuntimeError("the first try fails")
        while not Path("planted").exists():
            time.sleep(0.02)
"""


def test_a_run_planted_under_a_retried_blocks_name_in_its_attempt_is_left_as_it_is(psflow, write, tmp_path):
    """A retried block's next try updates the row its attempt wrote, found by id: a row put in the
    same attempt under the same name meanwhile stays as it was, and the attempt goes on (when the
    update went by name it changed both rows, and the attempt stopped as if it had lost the job)."""
    write("retried.py", RETRIED)
    runner = start(psflow.db_url, tmp_path, "exec", "retried.py", "--job", "twin")
    wait_until((tmp_path / "tried").exists, what="the first try")
    wait_until(lambda: _runs(psflow, "twin") == [("Flaky", 1)], what="the first try's record")
    plant_run(psflow.db_url, "twin", run_id(1, 100), "Flaky")
    (tmp_path / "planted").touch()

    _, err = runner.communicate(timeout=60)

    assert runner.returncode == 0 and "Completed" in err, err
    runs = detail(psflow, "twin")["runs"]
    assert [(run["name"], run["status"], run["tries"], run["host"] == "x") for run in runs] == [
        ("Flaky", "Completed", 2, False),
        ("Flaky", "Failed", 1, True),  # the planted row, as it was put there
    ]


def test_a_job_whose_attempt_count_was_edited_past_what_psflow_numbers_is_left_alone_and_the_others_run(
    psflow, write, tmp_path
):
    """A run's id holds its attempt in 31 bits: a job row edited to 2,147,483,647 attempts is not
    claimed (was a psflow traceback from the driver, and the job Failed, once its first block ran)."""
    write("two.py", TWO)
    for job_id in ("edited", "fine"):
        assert psflow("exec", "two.py", "--job", job_id).returncode == 3
    forge(psflow.db_url, "psflow_job", {"id": "edited"}, attempts=2**31 - 1)

    resumed = psflow("resume")

    assert resumed.returncode == 1, resumed.stderr
    assert (
        "job edited: not run: job edited would be in attempt 2147483648: psflow records attempts 1 to "
        "2,147,483,647 only; was the job's row edited?" in resumed.stderr
    ), resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert detail(psflow, "fine")["status"] == "Completed" and (tmp_path / "ran-fine").exists()
    edited = detail(psflow, "edited")
    assert (edited["status"], edited["attempts"]) == ("Waiting", 2**31 - 1)
    assert not (tmp_path / "ran-edited").exists()
