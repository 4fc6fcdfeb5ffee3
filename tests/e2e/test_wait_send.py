"""`wait_for(name)` in a script, `psflow send JOB name=value`, and `psflow resume --set`."""

from __future__ import annotations

import getpass
import json
import socket
import time

import pytest

from support.cli import assert_clean_error
from support.database import signal_rows, snapshot
from support.scripts import detail

# Prepare runs once (counted in prepare.count); then the job waits for `approval`.
APPROVAL = """
    from pathlib import Path

    def count(name):
        path = Path(f"{name}.count")
        path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))

    with block("Prepare"):
        count("prepare")
        rows = 42

    approval = wait_for("approval")
    print(f"approved: {approval!r} for {rows} rows in attempt {job.attempt}")
"""


@pytest.fixture
def waiting(psflow, write):
    """A job of APPROVAL that has stopped, waiting for `approval`; its id."""
    write("approval.py", APPROVAL)
    result = psflow("exec", "approval.py", "--job", "gate-1")
    assert result.returncode == 3, result.stderr
    return "gate-1"


def _count(tmp_path, name: str) -> int:
    path = tmp_path / f"{name}.count"
    return int(path.read_text()) if path.exists() else 0


def test_wait_for_stops_the_job_waiting_with_the_reason(psflow, write, jobs, tmp_path):
    write("approval.py", APPROVAL)

    result = psflow("exec", "approval.py", "--job", "gate-1")

    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert "job gate-1: Waiting (waiting for approval) — attempt 1, 1 block(s) ran" in result.stderr
    [job] = jobs()
    assert (job["status"], job["reason"], job["due"]) == ("Waiting", "waiting for approval", None)
    runs = [(run["name"], run["status"], run["attempt"]) for run in detail(psflow, "gate-1")["runs"]]
    assert runs == [("Prepare", "Completed", 1), ("wait_for:approval", "Waiting", 1)]


def test_resume_without_input_leaves_the_job_waiting(psflow, waiting, jobs, tmp_path):
    result = psflow("resume")

    assert result.returncode == 0, result.stderr
    assert "job gate-1: skipped: waiting for input approval" in result.stderr
    assert "`psflow send gate-1 approval=…` gives it" in result.stderr
    assert jobs()[0]["attempts"] == 1  # no attempt ran for nothing
    assert _count(tmp_path, "prepare") == 1


def test_send_stores_the_input_and_runs_nothing(psflow, waiting, jobs, tmp_path):
    result = psflow("send", "gate", "approval=yes")  # a unique prefix is enough

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "job gate-1: received approval; it runs at the next `psflow resume`" in result.stderr
    [job] = jobs()
    assert (job["status"], job["attempts"]) == ("Waiting", 1)
    assert signal_rows(psflow.db_url) == 1

    resumed = psflow("resume")

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "approved: 'yes' for 42 rows in attempt 2\n"
    assert "job gate-1: Completed — attempt 2, 1 block(s) ran, 1 replayed" in resumed.stderr
    assert _count(tmp_path, "prepare") == 1


def test_send_resume_runs_the_job_at_once(psflow, waiting, jobs, tmp_path):
    result = psflow("send", "gate-1", "approval=alice", "--resume")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "approved: 'alice' for 42 rows in attempt 2\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "psflow: job gate-1: received approval"
    assert lines[1].startswith("psflow: job gate-1: Completed — attempt 2")
    assert jobs()[0]["status"] == "Completed"


def test_resume_set_stores_the_input_then_resumes(psflow, waiting, jobs, tmp_path):
    result = psflow("resume", "--job", "gate-1", "--set", "approval=bob")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "approved: 'bob' for 42 rows in attempt 2\n"
    assert "psflow: job gate-1: received approval\n" in result.stderr
    assert jobs()[0]["status"] == "Completed"
    assert [(sent["name"], sent["value"]) for sent in detail(psflow, "gate-1")["inputs"]] == [("approval", "bob")]


VALUES = """
    for name in ["count", "flag", "quoted", "text", "empty", "items", "nothing", "spaced", "obj", "big"]:
        print(name, repr(wait_for(name)))
"""


def test_values_are_json_when_they_parse_and_text_otherwise(psflow, write):
    write("values.py", VALUES)
    assert psflow("exec", "values.py", "--job", "v").returncode == 3

    sent = psflow(
        "send",
        "v",
        "count=3",
        "flag=true",
        'quoted="3"',
        "text=yes please",
        "empty=",
        "items=[1, 2]",
        "nothing=null",
        "spaced= 7 ",
        "big=1e999",
        "--json",
        '{"obj": {"a": [1, "x"]}}',
        "--resume",
    )

    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.splitlines() == [
        "count 3",
        "flag True",
        "quoted '3'",
        "text 'yes please'",
        "empty ''",
        "items [1, 2]",
        "nothing None",
        "spaced 7",
        "obj {'a': [1, 'x']}",
        "big '1e999'",  # not a finite number: kept as the text it was
    ]
    values = {sent["name"]: sent["value"] for sent in detail(psflow, "v")["inputs"]}
    assert values == {
        "count": 3,
        "flag": True,
        "quoted": "3",
        "text": "yes please",
        "empty": "",
        "items": [1, 2],
        "nothing": None,
        "spaced": 7,
        "obj": {"a": [1, "x"]},
        "big": "1e999",
    }


def test_inputs_are_shown_with_host_user_and_time(psflow, waiting):
    before = time.time()
    assert psflow("send", "gate-1", "approval=yes", "note=first").returncode == 0
    assert psflow("send", "gate-1", "--json", '{"approval": "no"}').returncode == 0
    after = time.time()

    inputs = detail(psflow, "gate-1")["inputs"]

    assert [(sent["name"], sent["value"]) for sent in inputs] == [
        ("approval", "yes"),
        ("note", "first"),
        ("approval", "no"),
    ]
    for sent in inputs:
        assert set(sent) == {"name", "value", "host", "user", "received"}
        assert (sent["host"], sent["user"]) == (socket.gethostname(), getpass.getuser())
        assert before - 1 <= sent["received"] <= after + 1
    assert inputs[0]["received"] <= inputs[2]["received"]
    text = psflow("job", "gate-1")
    assert text.returncode == 0, text.stderr
    assert "INPUT" in text.stdout and '"no"' in text.stdout and getpass.getuser() in text.stdout


def test_the_value_is_read_once_and_replayed_even_if_more_arrives(psflow, write, tmp_path):
    write(
        "twice.py",
        """
        from pathlib import Path
        first = wait_for("approval")
        print("first", first)
        if Path("hold").exists():
            stop("OnHold")
        print("again", wait_for("approval"))
        """,
    )
    (tmp_path / "hold").write_text("")
    assert psflow("exec", "twice.py", "--job", "t").returncode == 3
    # Sent twice before the job reads it: the last one counts.
    assert psflow("send", "t", "approval=old").returncode == 0
    assert psflow("send", "t", "approval=new", "--resume").stdout == "first new\n"

    late = psflow("send", "t", "approval=changed-my-mind")
    (tmp_path / "hold").unlink()
    resumed = psflow("resume", "--status", "OnHold")

    assert late.returncode == 0, late.stderr
    assert "note: it already read approval in attempt 2; wait_for keeps that value" in late.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "first new\nagain new\n"


def test_timeout_fails_the_job_with_a_clear_reason(psflow, write, jobs):
    write("timed.py", 'print("got", wait_for("approval", timeout=1))\n')
    assert psflow("exec", "timed.py", "--job", "timed").returncode == 3
    time.sleep(1.1)

    result = psflow("resume")

    assert result.returncode == 1, result.stderr
    assert "psflow: error: waited more than 1s for approval" in result.stderr
    assert "Traceback" not in result.stderr
    [job] = jobs()
    assert (job["status"], job["reason"]) == ("Failed", "waited more than 1s for approval")
    # A late approval still rescues it.
    late = psflow("resume", "--job", "timed", "--set", "approval=late")
    assert late.returncode == 0, late.stderr
    assert late.stdout == "got late\n"


def test_a_wait_with_a_timeout_is_due_at_its_timeout_counted_from_the_first_wait(psflow, write, jobs):
    write("timed.py", 'print("got", wait_for("approval", timeout=6))\n')
    assert psflow("exec", "timed.py", "--job", "timed").returncode == 3
    [waited] = detail(psflow, "timed")["runs"]
    [job] = jobs()
    assert job["due"] == waited["started"] + 6 and job["waits_for"] == "approval"
    assert "skipped: waiting for input approval" in psflow("resume").stderr  # not due before its timeout
    time.sleep(max(0.0, job["due"] - time.time()) + 0.05)

    result = psflow("resume")

    assert result.returncode == 1, result.stderr
    assert jobs()[0]["reason"] == "waited more than 6s for approval"
    failed = detail(psflow, "timed")["runs"][-1]
    assert failed["status"] == "Failed" and failed["error"] == "WaitTimeout: waited more than 6s for approval"


def test_a_script_can_catch_the_timeout(psflow, write, jobs):
    write(
        "escalate.py",
        """
        from datetime import timedelta
        from psflow import WaitTimeout
        try:
            approver = wait_for("approval", timeout=timedelta(0))
        except WaitTimeout as error:
            approver = "the on-call manager"
            print("escalated:", error)
        print("approved by", approver)
        """,
    )

    result = psflow("exec", "escalate.py")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "escalated: waited more than 0s for approval\napproved by the on-call manager\n"


BAD_INPUT = {
    "not name=value": (("send", "gate-1", "approval"), "'approval' is not NAME=VALUE"),
    "--set not name=value": (("resume", "--job", "gate-1", "--set", "approval"), "'approval' is not NAME=VALUE"),
    "one good, one bad": (("send", "gate-1", "approval=yes", "oops"), "'oops' is not NAME=VALUE"),
    "json does not parse": (("send", "gate-1", "--json", "{approval: yes}"), "--json is not valid JSON"),
    "json is a list": (("send", "gate-1", "--json", '["approval"]'), "must be a JSON object"),
    "json is a string": (("send", "gate-1", "--json", '"approval=yes"'), "must be a JSON object"),
    "json NaN": (("send", "gate-1", "--json", '{"approval": NaN}'), "--json is not valid JSON"),
    "empty name": (("send", "gate-1", "=yes"), "input name '' is not valid"),
    "space in name": (("send", "gate-1", "my approval=yes"), "input name 'my approval' is not valid"),
    "slash in name": (("send", "gate-1", "a/b=1"), "input name 'a/b' is not valid"),
    "non-ascii name": (("send", "gate-1", "approbation-é=1"), "is not valid"),
    "bad json name": (("send", "gate-1", "--json", '{"a b": 1}'), "input name 'a b' is not valid"),
    "empty json name": (("send", "gate-1", "--json", '{"": 1}'), "input name '' is not valid"),
    "name too long": (("send", "gate-1", "a" * 129 + "=1"), "1 to 128 letters"),
    "nothing to send": (("send", "gate-1"), "nothing to send"),
    "empty json object": (("send", "gate-1", "--json", "{}"), "nothing to send"),
    "name given twice": (("send", "gate-1", "a=1", "--json", '{"a": 2}'), "input 'a' is given twice"),
    "unknown job": (("send", "nosuch", "approval=yes"), "no job with id 'nosuch'"),
    "--set without --job": (("resume", "--set", "approval=yes"), "--set needs --job"),
    "--set for an unknown job": (("resume", "--job", "nosuch", "--set", "approval=yes"), "no job with id 'nosuch'"),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_refused_and_changes_nothing(psflow, waiting, case):
    args, message = BAD_INPUT[case]
    before = snapshot(psflow.db_url)

    result = psflow(*args)

    assert_clean_error(result, message)
    assert snapshot(psflow.db_url) == before


def test_send_to_an_unknown_job_in_an_empty_database_changes_nothing(psflow):
    result = psflow("send", "nosuch", "approval=yes")

    assert_clean_error(result, "no job with id 'nosuch'")
    assert all(rows == [] for rows in snapshot(psflow.db_url).values())


@pytest.mark.parametrize("status", ["Completed", "Cancelled"])
def test_send_to_a_finished_job_is_refused(psflow, waiting, status):
    if status == "Completed":
        assert psflow("send", "gate-1", "approval=yes", "--resume").returncode == 0
    else:
        _set_status(psflow.db_url, "gate-1", status)
    before = snapshot(psflow.db_url)

    for args in (("send", "gate-1", "approval=again"), ("resume", "--job", "gate-1", "--set", "approval=again")):
        result = psflow(*args)
        assert_clean_error(result, f"job gate-1 is {status}: it takes no more input")
        assert snapshot(psflow.db_url) == before


def test_a_bad_name_in_the_script_fails_the_job_with_the_rule(psflow, write, jobs):
    write("badname.py", 'wait_for("my approval")\n')

    result = psflow("exec", "badname.py")

    assert result.returncode == 1
    assert "input name 'my approval' is not valid" in result.stderr
    assert jobs()[0]["status"] == "Failed"


def _set_status(db_url: str, job_id: str, status: str) -> None:
    """What a `psflow cancel` would do (that command belongs to another change)."""
    from playhouse.db_url import connect

    db = connect(db_url)
    try:
        placeholder = "%s" if not db_url.startswith("sqlite") else "?"
        db.execute_sql(f"UPDATE psflow_job SET status = {placeholder} WHERE id = {placeholder}", (status, job_id))
    finally:
        db.close()


def test_job_json_lists_no_inputs_for_a_job_that_got_none(psflow, waiting):
    assert detail(psflow, "gate-1")["inputs"] == []
    assert json.loads(psflow("jobs", "--json").stdout)[0]["due"] is None
