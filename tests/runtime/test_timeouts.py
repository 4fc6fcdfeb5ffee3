"""`with block("X", timeout=S):` in a job, run in this process: a body that runs out of time is
interrupted where it is, recorded as failed with the reason, tried again when `retries=` allows,
and the timer is off and SIGALRM as it was once the block is over."""

from __future__ import annotations

import signal
from pathlib import Path

from psflow.service import history, transcripts
from psflow.store import Store
from support.running import run

SLOW = """
    import time
    with block("Fetch"):
        rows = 3
    with block("Slow", timeout=0.3):
        try:
            print("sleeping")
            time.sleep(30)
        except Exception:
            print("a script's except Exception: does not swallow the interruption")
        finally:
            open("finally-ran", "w").close()
        done = True
"""


def _blocks(store: Store, job_id: str) -> dict[str, dict]:
    return {block["name"]: block for block in history.job_detail(store, job_id)["blocks"]}


def test_a_body_that_runs_out_of_time_is_interrupted_and_the_job_fails(store: Store, write, tmp_path: Path) -> None:
    script = write("slow.py", SLOW)

    result = run(store, script, "slow")

    assert (result.status, result.exit_code) == ("Failed", 1)
    assert result.reason == "psflow.BlockTimeout: block 'Slow' ran out of its time limit (0.3s)"
    slow = _blocks(store, "slow")["Slow"]
    assert slow["status"] == "Failed"
    [logged] = [entry for entry in transcripts.transcript(store, "slow")[1] if entry.get("name") == "Slow"]
    assert logged["output"] == "sleeping\n"  # the `except Exception:` did not run
    assert slow["error"].rstrip().endswith("psflow.BlockTimeout: block 'Slow' ran out of its time limit (0.3s)")
    assert f'File "{script}", line 7' in slow["error"]  # where the body was: time.sleep(30)
    assert (tmp_path / "finally-ran").exists()  # the script's own cleanup ran
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_next_attempt_replays_what_completed_and_runs_the_block_again(store: Store, write) -> None:
    script = write("slow.py", SLOW)
    run(store, script, "slow")
    write("slow.py", SLOW.replace("time.sleep(30)", "time.sleep(0)"))

    result = run(store, script, "slow")

    assert (result.status, result.ran, result.replayed) == ("Completed", 1, 1)


def test_a_try_that_runs_out_of_time_is_tried_again_with_its_own_time(store: Store, write, tmp_path: Path) -> None:
    script = write(
        "retried.py",
        """
        import time
        with block("Slow", timeout=0.3, retries=2):
            with open("tries", "a") as log:
                log.write("x")
            if len(open("tries").read()) == 1:
                time.sleep(30)  # the first try hangs; the second does not
            done = True
    """,
    )

    result = run(store, script, "retried")

    assert result.status == "Completed"
    slow = _blocks(store, "retried")["Slow"]
    assert (slow["status"], slow["tries"]) == ("Completed", 2)
    assert "psflow.BlockTimeout: block 'Slow' ran out of its time limit (0.3s)" in slow["error"]  # try 1, recorded
    assert (tmp_path / "tries").read_text() == "xx"


def test_the_limit_covers_the_body_only(store: Store, write) -> None:
    """Code after a block that finished in time is not interrupted, nor is a replayed block's place."""
    script = write(
        "quick.py",
        """
        import time
        with block("Quick", timeout=0.2):
            x = 1
        time.sleep(0.5)
        stop("Waiting")
    """,
    )

    assert run(store, script, "quick").status == "Waiting"
    assert run(store, script, "quick").status == "Waiting"  # replayed: no timer either
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_nested_limits_interrupt_at_the_nearest_deadline(store: Store, write) -> None:
    script = write(
        "nested.py",
        """
        import time
        with block("Outer", timeout=0.3):
            with block("Inner", timeout=60):
                time.sleep(30)
    """,
    )

    result = run(store, script, "nested")

    assert result.reason == "psflow.BlockTimeout: block 'Outer' ran out of its time limit (0.3s)"
    blocks = _blocks(store, "nested")
    assert (blocks["Outer"]["status"], blocks["Inner"]["status"]) == ("Failed", "Failed")


def test_the_attempt_does_not_repeat_the_traceback_its_block_recorded(store: Store, write) -> None:
    script = write("slow.py", SLOW)
    run(store, script, "slow")

    [attempt] = history.job_detail(store, "slow")["attempt_history"]

    assert attempt["error"] is None  # `psflow logs` and `psflow job` show it once, with block Slow
