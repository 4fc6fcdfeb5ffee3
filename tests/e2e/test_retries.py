"""`with block("Name", retries=N, backoff=S):` and `@block("Name", retries=N)`: the body is tried
again within the attempt, each try is recorded, and everything else about blocks still holds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from support.cli import assert_clean_error, job_id_of
from support.database import block_rows
from support.scripts import start, wait_until

# Fails the first `sys.argv[1]` tries (counted in tries.log), then binds `rows`.
FLAKY = """
    import sys, time
    FAILS = int(sys.argv[1])

    def effect(text):
        with open("tries.log", "a") as log:
            log.write(f"{text} {time.monotonic()}\\n")

    with block("Fetch", retries=3, backoff=0.2):
        effect("fetch")
        print("fetching")
        tries = sum(1 for line in open("tries.log") if line.startswith("fetch"))
        if tries <= FAILS:
            raise ConnectionError(f"refused (try {tries})")
        rows = tries * 10
    print("rows", rows)
"""


def _tries(tmp_path, what: str = "fetch") -> list[float]:
    log = tmp_path / "tries.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [float(line.split()[1]) for line in lines if line.split()[0] == what]


def run_error_lines(run: dict) -> list[str]:
    """The `try N of M failed:` headers and exception lines of a run's recorded error."""
    lines = run["error"].splitlines()
    return [line for line in lines if line.startswith(("try ", "ConnectionError"))]


def _runs(job_detail, job_id: str) -> list[dict]:
    return job_detail(job_id)["runs"]


def test_a_failing_body_is_tried_again_with_doubling_waits_and_each_try_is_recorded(
    psflow, write, job_detail, tmp_path
):
    write("flaky.py", FLAKY)

    result = psflow("exec", "flaky.py", "2")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "fetching\n" * 3 + "rows 30\n"
    assert "psflow: block 'Fetch': try 1 of 4 failed (ConnectionError: refused (try 1)); trying again in 0.2s" in (
        result.stderr
    )
    assert "try 2 of 4 failed (ConnectionError: refused (try 2)); trying again in 0.4s" in result.stderr
    starts = _tries(tmp_path)
    assert len(starts) == 3
    assert starts[1] - starts[0] >= 0.2 and starts[2] - starts[1] >= 0.4  # backoff, then twice that
    [run] = _runs(job_detail, job_id_of(result))
    assert (run["name"], run["status"], run["tries"], run["attempt"]) == ("Fetch", "Completed", 3, 1)
    assert run["duration"] >= 0.6
    logs = psflow("logs", job_id_of(result), "Fetch").stdout
    assert logs.count("fetching\n") == 3
    assert "try 1 of 4 failed:\nTraceback (most recent call last):\n" in logs
    assert re.search(r'File ".*flaky\.py", line 13, in <module>\n +raise ConnectionError', logs), logs
    assert "ConnectionError: refused (try 2)" in logs
    assert "refused (try 3)" not in logs


def test_a_block_that_succeeded_after_retries_is_replayed_not_tried_again(psflow, write, job_detail, tmp_path):
    write("flaky.py", FLAKY.replace('print("rows", rows)', 'print("rows", rows)\n    stop("Waiting")'))
    first = psflow("exec", "flaky.py", "1")
    assert first.returncode == 3, first.stderr
    job_id = job_id_of(first)

    again = psflow("resume", "--job", job_id)

    assert again.stdout == "rows 20\n"  # `rows` given back, the body not run
    assert len(_tries(tmp_path)) == 2
    assert [run["tries"] for run in _runs(job_detail, job_id)] == [2]


def test_out_of_tries_the_block_fails_with_every_try_recorded_and_resume_starts_afresh(
    psflow, write, job_detail, tmp_path
):
    write("flaky.py", FLAKY.replace("backoff=0.2", "backoff=0"))

    failed = psflow("exec", "flaky.py", "5")

    assert failed.returncode == 1
    assert "try 3 of 4 failed (ConnectionError: refused (try 3)); trying again now" in failed.stderr
    assert "try 4 of 4" not in failed.stderr  # the last failure is the job's, told as usual
    assert failed.stderr.count("Traceback (most recent call last):") == 1
    assert "ConnectionError: refused (try 4)" in failed.stderr
    job_id = job_id_of(failed)
    [run] = _runs(job_detail, job_id)
    assert (run["status"], run["tries"]) == ("Failed", 4)
    assert [f"try {n} of 4 failed:" in run["error"] for n in (1, 2, 3, 4)] == [True] * 4
    assert job_detail(job_id)["reason"] == "ConnectionError: refused (try 4)"

    resumed = psflow("resume", "--status", "Failed")

    assert resumed.returncode == 0, resumed.stderr  # try 6 is the first to succeed: the second try of attempt 2
    assert resumed.stdout == "fetching\n" * 2 + "rows 60\n"
    runs = _runs(job_detail, job_id)
    assert [(run["attempt"], run["status"], run["tries"]) for run in runs] == [(1, "Failed", 4), (2, "Completed", 2)]


@pytest.mark.parametrize(
    "ending, code, status",
    [
        pytest.param('stop("Waiting")', 3, "Waiting", id="stop"),
        pytest.param("sys.exit(4)", 1, "Failed", id="sys-exit"),
        pytest.param("raise KeyboardInterrupt", 130, "Interrupted", id="ctrl-c"),
        pytest.param('wait_for("approval", timeout=0)', 1, "Failed", id="timed-out-wait"),
    ],
)
def test_stop_exit_interrupt_and_a_timed_out_wait_are_not_retried(psflow, write, jobs, tmp_path, ending, code, status):
    write(
        "ends.py",
        f"""
        import sys
        with block("Once", retries=5):
            open("tries.log", "a").write("once 0\\n")
            {ending}
        """,
    )

    result = psflow("exec", "ends.py")

    assert result.returncode == code, result.stderr
    assert "trying again" not in result.stderr
    assert len(_tries(tmp_path, "once")) == 1
    assert jobs()[0]["status"] == status


def test_blocks_timers_and_calls_inside_a_retried_body_are_reached_afresh_on_each_try(
    psflow, write, job_detail, tmp_path
):
    write(
        "nested.py",
        """
        def effect(text):
            open("tries.log", "a").write(f"{text} 0\\n")

        @block("Notify")
        def notify(message):
            effect("notify")
            return message.upper()

        with block("Deploy", retries=2):
            effect("deploy")
            with block("Upload"):
                effect("upload")
                uploaded = "v1"
            sleep(0)
            shout = notify("hi")
            if len(_tries_of("deploy")) == 1:
                raise RuntimeError("restart failed")
        print(uploaded, shout)
        """.replace("_tries_of", "(lambda w: [l for l in open('tries.log') if l.startswith(w)])"),
    )

    result = psflow("exec", "nested.py")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "v1 HI\n"
    assert len(_tries(tmp_path, "deploy")) == 2
    assert len(_tries(tmp_path, "upload")) == 1  # completed in try 1: replayed in try 2
    assert len(_tries(tmp_path, "notify")) == 1
    runs = {run["name"]: run for run in _runs(job_detail, job_id_of(result))}
    assert sorted(runs) == ["Deploy", "Deploy/Notify('hi')", "Deploy/sleep", "Upload"]  # nothing twice, no `#2`
    assert runs["Deploy"]["tries"] == 2 and runs["Upload"]["tries"] == 1


def test_a_block_failing_inside_a_retried_block_is_run_again_and_keeps_one_row(psflow, write, job_detail, tmp_path):
    write(
        "inner.py",
        """
        with block("Outer", retries=1):
            with block("Inner"):
                open("tries.log", "a").write("inner 0\\n")
                if sum(1 for _ in open("tries.log")) == 1:
                    raise OSError("disk busy")
        print("done")
        """,
    )

    result = psflow("exec", "inner.py")

    assert result.returncode == 0, result.stderr
    assert len(_tries(tmp_path, "inner")) == 2
    runs = [(run["name"], run["status"], run["tries"]) for run in _runs(job_detail, job_id_of(result))]
    assert runs == [("Inner", "Completed", 1), ("Outer", "Completed", 2)]


LOOP = """
    import sys
    seen = []
    for item in ["a", "b", "c", "d"]:
        with block(f"Step-{item}", retries=2):
            open("tries.log", "a").write(f"{item} 0\\n")
            if sum(1 for line in open("tries.log") if line[0] == item) == 1:
                raise ValueError(item)  # every step fails once
            if item == "b":
                continue
            if item == "c":
                break
            seen.append(item)
    else:
        seen.append("no break")
    print(seen)
    if job.attempt == 1:
        stop("Waiting")
"""


def test_break_and_continue_in_a_retried_body_leave_the_users_loop_and_are_replayed(psflow, write, job_detail):
    write("loop.py", LOOP)

    first = psflow("exec", "loop.py")

    assert first.returncode == 3, first.stderr
    assert first.stdout == "['a']\n"
    job_id = job_id_of(first)
    runs = {run["name"]: run for run in _runs(job_detail, job_id)}
    assert sorted(runs) == ["Step-a", "Step-b", "Step-c"]
    assert [runs[name]["tries"] for name in sorted(runs)] == [2, 2, 2]

    again = psflow("resume", "--job", job_id)

    assert again.returncode == 0, again.stderr
    assert again.stdout == "['a']\n"
    assert "0 block(s) ran, 3 replayed" in again.stderr


def test_return_from_a_retried_body_in_a_function_is_saved_and_replayed(psflow, write, tmp_path):
    write(
        "ret.py",
        """
        def fetch():
            with block("Fetch", retries=1):
                open("tries.log", "a").write("fetch 0\\n")
                if len(open("tries.log").readlines()) == 1:
                    raise TimeoutError("slow")
                return {"rows": 3}
            return None

        print(fetch())
        if job.attempt == 1:
            stop("Waiting")
        """,
    )

    first = psflow("exec", "ret.py")
    again = psflow("resume")

    assert first.stdout == again.stdout == "{'rows': 3}\n"
    assert len(_tries(tmp_path)) == 2


def test_the_decorator_retries_each_call(psflow, write, job_detail, tmp_path):
    write(
        "deco.py",
        """
        @block("Call", retries=2, backoff=0.05)
        def call(n):
            open("tries.log", "a").write(f"call 0\\n")
            if len(open("tries.log").readlines()) in (1, 3):
                raise ConnectionError("reset")
            return n * 2

        print(call(1), call(2))
        """,
    )

    result = psflow("exec", "deco.py")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "2 4\n"
    assert "psflow: block 'Call(2)': try 1 of 3 failed (ConnectionError: reset); trying again in 0.05s" in result.stderr
    runs = [(run["name"], run["tries"]) for run in _runs(job_detail, job_id_of(result))]
    assert runs == [("Call(1)", 2), ("Call(2)", 2)]


def test_show_prints_the_retry_loop(psflow, write):
    write("flaky.py", FLAKY)

    shown = psflow("show", "flaky.py").stdout

    assert re.search(
        r"as __psflow_b1, __psflow_b1\.body\(\):\n +while __psflow_b1\.next_try\(\):\n"
        r" +with __psflow_b1\.trying\(\):\n +effect\(\"fetch\"\)",
        shown,
    ), shown


def test_retried_block_keeps_columns_of_continuation_and_string_lines_in_tracebacks(psflow, write):
    write(
        "carets.py",
        '''
        def boom(x):
            return 1 / x

        with block("Outer", retries=1):
            with block("Inner", retries=1):
                text = """a
        b""" + str(boom(0) + 1)
        ''',
    )

    result = psflow("exec", "carets.py")

    assert result.returncode == 1
    report = result.stderr[result.stderr.index("Traceback") :]
    assert 'carets.py", line 7, in <module>\n    b""" + str(boom(0) + 1)\n               ^^^^^^^\n' in report
    assert "line 2, in boom\n    return 1 / x\n           ~~^~~\n" in report


def test_retries_under_plain_python(write, tmp_path):
    """A `with` block runs its body once under plain Python (no rewrite); the decorator still retries."""
    write(
        "plain.py",
        """
        from psflow import block

        @block("Call", retries=1)
        def call():
            open("tries.log", "a").write("call 0\\n")
            if len(open("tries.log").readlines()) == 1:
                raise ConnectionError("reset")
            return "ok"

        print(call())
        with block("Once", retries=3):
            print("once")
        """,
    )

    result = subprocess.run([sys.executable, "plain.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\nonce\n"
    assert "block 'Call': try 1 of 2 failed (ConnectionError: reset); trying again now" in result.stderr


@pytest.mark.parametrize(
    "header, message",
    [
        pytest.param(
            'block("A", retries=-1)', "retries must be an int of 0 or more, not a negative number", id="negative"
        ),
        pytest.param('block("A", retries=2.5)', "retries must be an int of 0 or more, not a float", id="float"),
        pytest.param('block("A", retries="3")', "retries must be an int of 0 or more, not a str", id="str"),
        pytest.param('block("A", retries=None)', "retries must be an int of 0 or more, not None", id="none"),
        pytest.param('block("A", retries=2, backoff=-1)', "backoff must be seconds (0 or more)", id="backoff"),
        pytest.param(
            'block("A", retry=2)',
            "block() has no option 'retry'; its options are retries=, backoff= and timeout=",
            id="unknown-option",
        ),
        pytest.param('block("A", **options)', "write the block's name and options out in full", id="star-star"),
    ],
)
def test_bad_retry_options_are_refused_before_anything_runs(psflow, write, row_counts, header, message):
    write("bad.py", f"options = {{}}\nprint('ran')\nwith {header}:\n    x = 1\n")

    assert_clean_error(psflow("exec", "bad.py"), "bad.py:3:", message)
    checked = psflow("check", "bad.py")
    assert checked.returncode == 2 and message.split("; ")[0] in checked.stdout
    assert not any(row_counts().values())


def test_a_one_line_retried_body_is_refused(psflow, write):
    write("one.py", 'with block("A", retries=2): x = 1\n')

    assert_clean_error(psflow("exec", "one.py"), "one.py:1:", "a block with retries needs its body on the lines below")


@pytest.mark.parametrize(
    "value, message",
    [
        pytest.param("-2", "block 'A': retries must be an int of 0 or more, not -2", id="retries"),
        pytest.param("'soon'", "block 'A': backoff needs seconds or a timedelta, not str", id="backoff"),
    ],
)
def test_bad_retry_options_computed_at_run_time_end_the_job_with_exit_2(psflow, write, jobs, value, message):
    options = "retries=value" if "retries" in message else "retries=1, backoff=value"
    write("late.py", f"value = {value}\nwith block('A', {options}):\n    print('ran')\n")

    result = psflow("exec", "late.py")

    assert result.returncode == 2, result.stderr
    assert f"psflow: error: {message}" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert [(job["status"], job["reason"]) for job in jobs()] == [("Failed", message)]


def test_json_of_a_retried_block_lists_its_failed_tries(psflow, write, tmp_path):
    write("flaky.py", FLAKY.replace("backoff=0.2", "backoff=0"))
    result = psflow("exec", "flaky.py", "1")

    entries = json.loads(psflow("logs", job_id_of(result), "--json").stdout)
    runs = [entry for entry in entries if entry["kind"] == "block"]  # the attempt's own output comes after

    assert [(run["name"], run["tries"], run["status"]) for run in runs] == [("Fetch", 2, "Completed")]
    assert run_error_lines(runs[0]) == ["try 1 of 4 failed:", "ConnectionError: refused (try 1)"]


def test_many_tries_keep_the_tracebacks_of_the_last_twenty_retried_tries_and_the_final_one(psflow, write, job_detail):
    write("many.py", 'with block("Many", retries=25):\n    raise ValueError(f"nope {job.attempt}")\n')

    result = psflow("exec", "many.py")

    assert result.returncode == 1
    assert result.stderr.count("trying again now") == 25
    [run] = job_detail(job_id_of(result))["runs"]
    assert run["tries"] == 26
    kept = re.findall(r"^try (\d+) of 26 failed:$", run["error"], re.MULTILINE)
    assert kept == [str(n) for n in range(6, 27)]


def test_logs_follow_shows_a_retried_block_once_its_tries_are_over(psflow, write, tmp_path):
    write(
        "gated.py",
        """
        import os, time
        with block("Flaky", retries=1):
            print("try starts")
            if not os.path.exists("tried"):
                open("tried", "w").close()
                raise ConnectionError("refused")
            while not os.path.exists("gate"):
                time.sleep(0.05)
        """,
    )
    runner = start(psflow, tmp_path, "exec", "gated.py", "--job", "gated")
    follower = None
    try:
        wait_until(lambda: block_rows(psflow.db_url, "gated", "Flaky") == 1, what="the first try to be recorded")
        follower = start(psflow, tmp_path, "logs", "gated", "--follow")
        time.sleep(1.0)  # a few polls: the Retrying run is not printed yet
        assert follower.poll() is None
        (tmp_path / "gate").touch()
        assert runner.wait(timeout=60) == 0
        out, err = follower.communicate(timeout=30)
    finally:
        for process in (runner, follower):
            if process is not None and process.poll() is None:
                process.kill()
    assert follower.returncode == 0, err
    assert re.findall(r"^==> Flaky \(attempt 1, (\w+),", out, re.MULTILINE) == ["Completed"]
    assert out.count("try starts\n") == 2
    assert "try 1 of 2 failed (ConnectionError: refused); trying again now" in out


def test_backoff_may_be_a_timedelta(psflow, write, tmp_path):
    write(
        "delta.py",
        """
        from datetime import timedelta

        with block("Fetch", retries=1, backoff=timedelta(milliseconds=300)):
            open("tries.log", "a").write("fetch 0\\n")
            if len(open("tries.log").readlines()) == 1:
                raise ConnectionError("reset")
        """,
    )

    result = psflow("exec", "delta.py")

    assert result.returncode == 0, result.stderr
    assert "try 1 of 2 failed (ConnectionError: reset); trying again in 0.3s" in result.stderr
