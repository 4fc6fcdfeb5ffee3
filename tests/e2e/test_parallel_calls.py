"""`Deploy.map(hosts, limit=8)` through the real `psflow` command.

Which calls fail is decided by a file the test writes; every call body counts its runs in a file
of its own (count-HOST), so "each call that succeeded ran exactly once" is read off the disk.
Signals are sent while calls wait at a gate file the test creates: no timing decides anything.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from support.cli import start
from support.scripts import counts, detail, wait_until

FIFTY = """
    import sys
    from pathlib import Path
    from psflow import block

    @block("Deploy")
    def deploy(host):
        count = Path(f"count-{host}")
        count.write_text(str(int(count.read_text()) + 1 if count.exists() else 1))
        print(f"deploying {host}")
        if host in Path("failing.txt").read_text().split():
            raise RuntimeError(f"{host} refused the patch")
        return f"{host}:v2"

    versions = deploy.map([f"h{n}" for n in range(50)], limit=8)
    print("versions", len(versions), versions[0], versions[-1])
"""


@pytest.mark.every_backend
def test_fifty_calls_three_fail_then_only_those_run_again(psflow, write, tmp_path: Path) -> None:
    write("fifty.py", FIFTY)
    (tmp_path / "failing.txt").write_text("h7 h21 h40")

    first = psflow("exec", "fifty.py", "--job", "fifty")

    assert first.returncode == 1, first.stderr
    assert "ExceptionGroup: 3 of 50 calls of Deploy failed: Deploy[h7], Deploy[h21], Deploy[h40]" in first.stderr
    assert "RuntimeError: h21 refused the patch" in first.stderr
    job = detail(psflow, "fifty")
    assert job["status"] == "Failed"
    calls = {run["name"]: run["status"] for run in job["runs"]}
    assert len(calls) == 50 and sorted(name for name, status in calls.items() if status == "Failed") == [
        "Deploy[h21]",
        "Deploy[h40]",
        "Deploy[h7]",
    ]

    (tmp_path / "failing.txt").write_text("")
    resumed = psflow("resume", "--status", "Failed")

    assert resumed.returncode == 0, resumed.stderr
    assert "versions 50 h0:v2 h49:v2" in resumed.stdout
    assert detail(psflow, "fifty")["status"] == "Completed"
    ran = counts(tmp_path)
    assert ran == {f"h{n}": 2 if n in (7, 21, 40) else 1 for n in range(50)}  # a failed run, then the good one
    second = [run for run in detail(psflow, "fifty")["runs"] if run["attempt"] == 2]
    assert sorted(run["name"] for run in second) == ["Deploy[h21]", "Deploy[h40]", "Deploy[h7]"]


def test_a_calls_output_is_its_blocks_and_shown_with_its_key(psflow, write, tmp_path: Path) -> None:
    write(
        "say.py",
        """
        import sys
        from psflow import block

        @block("Say")
        def say(word):
            print(f"said {word}")
            print(f"warned {word}", file=sys.stderr)

        with block("Outer"):
            say.map(["hi", "ho"])
        """,
    )

    result = psflow("exec", "say.py", "--job", "say")

    assert result.returncode == 0, result.stderr
    assert "[Outer/Say[hi]] said hi\n" in result.stdout and "[Outer/Say[ho]] warned ho\n" in result.stderr
    logs = psflow("logs", "say", "--json")
    assert logs.returncode == 0, logs.stderr
    output = {entry["name"]: entry["output"] for entry in json.loads(logs.stdout)}
    assert output["Outer/Say[hi]"] == "said hi\nwarned hi\n"
    assert "[Outer/Say[ho]] said ho\n" in output["Outer"]


def test_stop_in_a_call_stops_the_job_and_resume_runs_the_rest(psflow, write, tmp_path: Path) -> None:
    write(
        "hold.py",
        """
        from pathlib import Path
        from psflow import block, stop

        @block("Step")
        def step(n):
            count = Path(f"count-{n}")
            count.write_text(str(int(count.read_text()) + 1 if count.exists() else 1))
            if n == 3 and not Path("approved").exists():
                stop("Waiting", reason="approval for 3")
            return n * 10

        print("total", sum(step.map(range(6), limit=1)))
        """,
    )

    first = psflow("exec", "hold.py", "--job", "hold")
    assert first.returncode == 3, first.stderr
    job = detail(psflow, "hold")
    assert (job["status"], job["reason"]) == ("Waiting", "approval for 3")
    assert counts(tmp_path) == {"0": 1, "1": 1, "2": 1, "3": 1}  # limit 1: nothing started after the stop

    (tmp_path / "approved").touch()
    resumed = psflow("resume", "--status", "Waiting")
    assert resumed.returncode == 0 and "total 150" in resumed.stdout, resumed.stderr
    assert counts(tmp_path) == {"0": 1, "1": 1, "2": 1, "3": 2, "4": 1, "5": 1}


GATED_MAP = """
    import time
    from pathlib import Path
    from psflow import block

    @block("Slow")
    def slow(n):
        Path(f"started-{n}").touch()
        while not Path("go").exists():  # the test opens the gate
            time.sleep(0.02)
        Path(f"ended-{n}").touch()
        return n

    print("sum", sum(slow.map(range(6), limit=2)))
"""


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_signal_lets_the_running_calls_finish_then_interrupts_the_job(
    psflow, write, tmp_path: Path, signum: int, code: int
) -> None:
    write("gated.py", GATED_MAP)
    process = start(psflow.db_url, tmp_path, "exec", "gated.py", "--job", "cc")
    wait_until(lambda: (tmp_path / "started-0").exists() and (tmp_path / "started-1").exists(), what="two calls")

    os.killpg(process.pid, signum)
    _read_until(process, "no further call of the map starts; the 2 running finish")
    (tmp_path / "go").touch()
    _, err = process.communicate(timeout=60)

    assert process.returncode == code, err
    job = detail(psflow, "cc")
    assert job["status"] == "Interrupted"
    assert sorted((run["name"], run["status"]) for run in job["runs"]) == [
        ("Slow[0]", "Completed"),
        ("Slow[1]", "Completed"),
    ]  # the running calls finished their blocks; none started after the signal
    assert not (tmp_path / "started-2").exists()
    resumed = psflow("resume", "--status", "Interrupted")
    assert resumed.returncode == 0 and "sum 15" in resumed.stdout, resumed.stderr


def test_a_second_ctrl_c_interrupts_the_running_calls(psflow, write, tmp_path: Path) -> None:
    write("gated.py", GATED_MAP)
    process = start(psflow.db_url, tmp_path, "exec", "gated.py", "--job", "cc2")
    wait_until(lambda: (tmp_path / "started-0").exists() and (tmp_path / "started-1").exists(), what="two calls")

    os.killpg(process.pid, signal.SIGINT)
    _read_until(process, "no further call of the map starts")
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 130, err
    job = detail(psflow, "cc2")
    assert job["status"] == "Interrupted"
    assert sorted((run["name"], run["status"]) for run in job["runs"]) == [
        ("Slow[0]", "Interrupted"),
        ("Slow[1]", "Interrupted"),
    ]
    assert not any(tmp_path.glob("ended-*"))


def _read_until(process, text: str) -> None:
    """Read the command's stderr line by line until a line has `text` (psflow says so once it acted)."""
    for line in process.stderr:
        if text in line:
            return
    raise AssertionError(f"{text!r} never came")


FENCED_MAP = """
    import os, time
    from pathlib import Path
    from psflow import block

    @block("Slow")
    def slow(n):
        Path(f"started-{n}-{job.attempt}").touch()
        while not os.environ.get("FAST") and not Path("gate").exists():
            time.sleep(0.02)
        return n

    print("sum", sum(slow.map(range(4), limit=2)))
"""


@pytest.mark.every_backend
def test_calls_of_a_runner_that_lost_its_lease_record_nothing(psflow, write, tmp_path: Path) -> None:
    write("fenced.py", FENCED_MAP)
    stale = start(psflow.db_url, tmp_path, "exec", "fenced.py", "--job", "fm", env={"PSFLOW_LEASE_SECONDS": "1"})
    wait_until(lambda: (tmp_path / "started-0-1").exists() and (tmp_path / "started-1-1").exists(), what="two calls")
    os.killpg(stale.pid, signal.SIGSTOP)
    wait_until(lambda: (detail(psflow, "fm")["lease_until"] or float("inf")) < time.time(), what="the lease to lapse")
    (tmp_path / "gate").touch()

    taken = psflow("resume", "--status", "Running", "--job", "fm", env={"FAST": "1"})
    os.killpg(stale.pid, signal.SIGCONT)
    _, err = stale.communicate(timeout=60)

    assert taken.returncode == 0 and "sum 6" in taken.stdout, taken.stderr
    assert stale.returncode == 1 and "no longer this runner's" in err, err
    runs = [(run["name"], run["attempt"]) for run in detail(psflow, "fm")["runs"]]
    assert sorted(runs) == [("Slow[0]", 2), ("Slow[1]", 2), ("Slow[2]", 2), ("Slow[3]", 2)]  # none of attempt 1
