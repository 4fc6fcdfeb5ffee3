"""Rows edited by hand into what psflow never writes, through the real `psflow` on SQLite (which keeps
any value in any column): the job is refused in words, the others go on, nothing spins or crashes.

Found by editing a copy of a live database: an attempt count of 1.5 spun a CPU for a minute in each
command (a float's `in range(...)` walks the range), one job's arguments that were not a JSON list,
a text lease or a text attempt count crashed `psflow worker` (or made it start a process for that
job at every poll, for ever), a text schema version gave every command a traceback, and a run
planted at the next id of a running attempt interrupted it and made its block run twice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from psflow.store.blocks import run_id
from support.cli import start
from support.database import forge, plant_run
from support.scripts import detail, next_line, wait_until

TWICE = """
    with block("A"):
        print("A ran")
    if job.attempt == 1:
        stop("Waiting")
"""


def _raw(psflow, sql: str) -> None:
    """An edit with sqlite3 itself, as anyone who can write the file can (values psflow's own driver
    would refuse to send, such as text in an INTEGER column)."""
    connection = sqlite3.connect(psflow.db_url.removeprefix("sqlite:///"))
    with connection:
        connection.execute(sql)
    connection.close()


def _waiting(psflow, write, *job_ids: str) -> None:
    write("twice.py", TWICE)
    for job_id in job_ids:
        assert psflow("exec", "twice.py", "--job", job_id).returncode == 3


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("attempts", "1.5", "attempts is 1.5"),
        ("attempts", "'abc'", "attempts is 'abc'"),
        ("args", "'[1,'", "args is '[1,'"),
        ("due_at", "'soon'", "due_at is 'soon'"),
        ("owner_pid", "'x'", "owner_pid is 'x'"),
        ("waiting_since", "1e999", "waiting_since is inf"),
    ],
)
def test_a_worker_refuses_a_job_whose_row_was_edited_in_words_and_runs_the_others(psflow, write, column, value, shown):
    _waiting(psflow, write, "edited", "fine")
    _raw(psflow, f"UPDATE psflow_job SET {column} = {value} WHERE id = 'edited'")

    started = time.monotonic()
    worked = psflow("worker", "--once", timeout=60)

    assert worked.returncode == 1, worked.stderr
    assert "Traceback" not in worked.stderr, worked.stderr
    assert f"job edited: not run: job edited: {shown}, which psflow never writes there; was the job's row edited?" in (
        worked.stderr
    ), worked.stderr
    assert worked.stderr.count("job edited: not run:") == 1, worked.stderr  # told once, not at every look
    assert detail(psflow, "fine")["status"] == "Completed"
    assert time.monotonic() - started < 30  # no spin: an attempt count of 1.5 cost a minute of CPU


def test_commands_about_one_edited_job_say_so_in_one_line(psflow, write):
    _waiting(psflow, write, "edited")
    _raw(psflow, "UPDATE psflow_job SET attempts = 1.5 WHERE id = 'edited'")

    for command in (
        ["job", "edited"],
        ["resume", "--job", "edited"],
        ["exec", "twice.py", "--job", "edited"],
    ):
        result = psflow(*command, timeout=60)
        assert result.returncode in (1, 2), (command, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.count("\n") <= 2, (command, result.stderr)
        assert "attempts is 1.5, which psflow never writes there" in result.stderr, (command, result.stderr)
    listed = psflow("jobs")  # the others, and a warning for this one
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert (
        "warning: job edited: attempts is 1.5, which psflow never writes there; was the job's row edited?: not listed"
        in (listed.stderr)
    ), listed.stderr


def test_a_job_left_out_of_the_list_is_named_and_the_others_are_listed(psflow, write):
    _waiting(psflow, write, "edited", "fine")
    _raw(psflow, "UPDATE psflow_job SET reason = x'ff00' WHERE id = 'edited'")

    listed = psflow("jobs", "--json")

    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert [job["id"] for job in json.loads(listed.stdout)] == ["fine"]
    assert "warning: job edited: reason is b'\\xff\\x00', which psflow never writes there" in listed.stderr


def test_a_schema_version_that_is_not_a_number_is_named_by_every_command(psflow, write, tmp_path: Path):
    _waiting(psflow, write, "any")
    _raw(psflow, "UPDATE psflow_schema_version SET version = 'x'")

    for command in (
        ["jobs"],
        ["job", "any"],
        ["init", "--sqlite", psflow.db_url.removeprefix("sqlite:///"), "--upgrade"],
    ):
        result = psflow(*command)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (command, result.stderr)
        assert "schema version in the database is 'x', not a number psflow writes" in result.stderr, result.stderr


GATED = """
    import time
    from pathlib import Path
    with block("First"):
        pass
    with block("Gated"):
        Path("at-gate").touch()
        while not Path("gate").exists():
            time.sleep(0.02)
        with open("gated-ran", "a") as ran:
            ran.write("ran\\n")
"""


def test_a_run_planted_at_a_running_attempts_next_id_is_passed_over(psflow, write, tmp_path: Path):
    """The store counts an attempt's ids itself; a row put at the next one meanwhile made the block's
    record fail on the key, the attempt end Interrupted, and the block run again on resume."""
    write("gated.py", GATED)
    runner = start(psflow.db_url, tmp_path, "exec", "gated.py", "--job", "gated")
    wait_until((tmp_path / "at-gate").exists, what="the gated block")
    plant_run(psflow.db_url, "gated", run_id(1, 2), "Planted")
    (tmp_path / "gate").touch()

    _, err = runner.communicate(timeout=60)

    assert runner.returncode == 0 and "Completed" in err, err
    runs = detail(psflow, "gated")["runs"]
    assert [(run["name"], run["status"]) for run in runs] == [
        ("First", "Completed"),
        ("Planted", "Failed"),
        ("Gated", "Completed"),
    ]
    assert (tmp_path / "gated-ran").read_text() == "ran\n"


def test_a_job_edited_to_a_lease_psflow_never_writes_is_not_offered_at_every_poll(psflow, write):
    """`forge` with psflow's own driver: a Running job's runner pid edited to text (SQLite keeps it)."""
    _waiting(psflow, write, "edited")
    forge(psflow.db_url, "psflow_job", {"id": "edited"}, status="Running", owner_pid="x", owner_host="elsewhere")

    worked = psflow("worker", "--once", "--status", "Running", timeout=60)

    assert "Traceback" not in worked.stderr, worked.stderr
    assert worked.stderr.count("job edited: not run:") == 1, worked.stderr


def test_a_queue_limit_psflow_never_writes_stops_a_worker_in_one_line_until_set_again(psflow, write):
    write("twice.py", TWICE)
    assert psflow("submit", "twice.py", "--queue", "q1", "--job", "queued").returncode == 0
    assert psflow("queue", "q1", "--limit", "2").returncode == 0
    _raw(psflow, "UPDATE psflow_queue SET max_running = 'x'")

    stopped = psflow("worker", "--once", timeout=60)

    assert stopped.returncode == 2 and "Traceback" not in stopped.stderr, stopped.stderr
    assert "queue q1: max_running is 'x', which psflow never writes there" in stopped.stderr, stopped.stderr
    assert psflow("queue", "q1", "--limit", "2").returncode == 0
    assert psflow("worker", "--once", timeout=60).returncode == 0


JOB, LOGS = (["job", "edited"], ["job", "edited", "--json"]), (["logs", "edited"],)


@pytest.mark.parametrize(
    ("sql", "shown", "commands"),
    [
        ("UPDATE psflow_block SET started_at = 'x'", "a block run has started_at 'x'", JOB + LOGS),
        ("UPDATE psflow_block SET ended_at = 1e300", "a block run has ended_at 1e+300", JOB + LOGS),
        ("UPDATE psflow_block SET output = x'ff00'", "a block run has output b'\\xff\\x00'", LOGS),
        ("UPDATE psflow_attempt SET number = 'one'", "an attempt has number 'one'", JOB),
        (
            (
                "INSERT INTO psflow_signal (job_id, name, value, host, user, created_at) "
                "VALUES ('edited', 'approval', '\"x\"', 'h', 'u', 1e999)"
            ),
            "an input has received inf",
            JOB,
        ),
    ],
)
def test_a_jobs_history_edited_into_what_psflow_never_writes_is_named_by_job_and_logs(
    psflow, write, sql, shown, commands
):
    _waiting(psflow, write, "edited")
    _raw(psflow, sql)

    for command in commands:
        result = psflow(*command)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (command, result.stderr)
        assert f"job edited: {shown}, which psflow never writes there; was a row edited?" in result.stderr, (
            result.stderr
        )


def test_a_workflow_version_edited_into_what_psflow_never_writes_is_named_in_one_line(psflow, write):
    write("flow.py", 'with block("A"):\n    pass\n')
    assert psflow("register", "nightly", "flow.py").returncode == 0, psflow("register", "nightly", "flow.py").stderr
    _raw(psflow, "UPDATE psflow_workflow SET created_at = 'x'")

    for command in (["workflows"], ["register", "nightly", "flow.py"], ["exec", "nightly"]):
        result = psflow(*command)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (command, result.stderr)
        assert "has created_at 'x', which psflow never writes there; was a row edited?" in result.stderr, result.stderr


@pytest.mark.parametrize("stored", ["x'ff00'", "cast(x'ff00' as text)"], ids=["blob", "text"])
def test_bytes_that_are_not_utf8_in_a_jobs_row_are_named_in_one_line_by_every_command(psflow, write, stored):
    """As a blob, the job is refused and the others run; as text, SQLite's driver cannot read the row
    at all (a traceback before), so a command that reads it stops in one line naming it."""
    _waiting(psflow, write, "edited", "fine")
    _raw(psflow, f"UPDATE psflow_job SET cwd = {stored} WHERE id = 'edited'")

    for command in (["jobs"], ["job", "edited"], ["worker", "--once"], ["resume", "--job", "edited"]):
        result = psflow(*command, timeout=60)
        listed_anyway = command == ["jobs"] and stored.startswith("x")  # the others, and a warning for it
        assert result.returncode in ((0,) if listed_anyway else (1, 2)), (command, result.stderr)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        assert "not UTF-8" in result.stderr or "cwd is b'\\xff\\x00'" in result.stderr, (command, result.stderr)


def test_a_source_snapshot_that_is_not_text_is_refused_in_words_not_at_every_look(psflow, write):
    _waiting(psflow, write, "edited")
    _raw(psflow, "UPDATE psflow_job SET source = x'ff00' WHERE id = 'edited'")

    resumed = psflow("resume", "--job", "edited", timeout=60)

    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr, resumed.stderr
    assert "job edited: source is b'\\xff\\x00', which psflow never writes there" in resumed.stderr, resumed.stderr


def test_a_runner_pid_no_process_can_have_counts_as_gone(psflow, write):
    """os.kill raised OverflowError for it: a traceback in jobs, cancel, rm, resume and workers."""
    _waiting(psflow, write, "edited")
    forge(psflow.db_url, "psflow_job", {"id": "edited"}, status="Running", owner_pid=2**31)

    for command in (["jobs"], ["job", "edited"], ["resume", "--status", "Running"]):
        result = psflow(*command, timeout=60)
        assert "Traceback" not in result.stderr, (command, result.stderr)
    assert detail(psflow, "edited")["status"] == "Completed"  # taken over at once: its runner is gone


def test_a_job_whose_edited_row_is_put_right_is_run_by_the_worker_that_refused_it(psflow, write, tmp_path: Path):
    """peewee read 1.5 as 1 in the worker's look, so the job was offered, refused, and held back for
    ten minutes even once its row was right again."""
    _waiting(psflow, write, "edited")
    _raw(psflow, "UPDATE psflow_job SET attempts = 1.5 WHERE id = 'edited'")
    worker = start(psflow.db_url, tmp_path, "worker", "--poll", "0.2")
    said = [next_line(worker.stderr, what="the worker's first line")]
    while "attempts is 1.5" not in said[-1]:
        said.append(next_line(worker.stderr, what="the refusal"))
    _raw(psflow, "UPDATE psflow_job SET attempts = 1 WHERE id = 'edited'")

    wait_until(lambda: detail(psflow, "edited")["status"] == "Completed", what="the job, put right, to run")
    os.killpg(worker.pid, signal.SIGTERM)
    _, rest = worker.communicate(timeout=60)
    assert "".join([*said, rest]).count("job edited: not run: job edited: attempts is 1.5") == 1, [*said, rest]


def test_a_childs_result_edited_into_what_psflow_never_writes_fails_its_parent_in_words(psflow, write):
    write("parent.py", 'results = wait_jobs([start("child.py")])\n')
    write("child.py", "job.result = 42\n")
    assert psflow("exec", "parent.py", "--job", "P").returncode == 3
    assert psflow("resume", "--job", "P.1").returncode == 0
    forge(psflow.db_url, "psflow_job", {"id": "P.1"}, result="{bad")

    resumed = psflow("resume", "--job", "P")

    assert resumed.returncode == 1, resumed.stderr
    assert "ValueError: cannot read the result of child job P.1 (" in resumed.stderr, resumed.stderr
    assert "); was its row edited?" in resumed.stderr and "JSONDecodeError" not in resumed.stderr, resumed.stderr


def test_a_job_whose_row_cannot_be_read_is_deleted_as_it_is_by_rm_force(psflow, write):
    """Every command about such a job refuses it; without this, only SQL could remove it."""
    _waiting(psflow, write, "edited", "kept")
    _raw(psflow, "UPDATE psflow_job SET args = '[1,' WHERE id = 'edited'")

    refused = psflow("rm", "edited")
    removed = psflow("rm", "--force", "edited")

    assert refused.returncode == 2 and "`psflow rm --force edited` deletes it as it is" in refused.stderr, (
        refused.stderr
    )
    assert removed.returncode == 0 and "deleted job edited (unreadable)" in removed.stderr, removed.stderr
    listed = psflow("jobs", "--json")
    assert [job["id"] for job in json.loads(listed.stdout)] == ["kept"] and not listed.stderr
