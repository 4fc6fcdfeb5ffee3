"""Every command once on every backend besides SQLite (PostgreSQL here; MS SQL Server when given).

The other end-to-end tests run on SQLite; the store's contract is tested
in-process on every backend (tests/store/test_contract.py). These tests show the
real command works against a real server too, one workflow of commands each.
"""

from __future__ import annotations

import json

import pytest

from support.cli import job_id_of

pytestmark = pytest.mark.other_backends

APPROVAL = """
    import sys
    with block("Prepare"):
        rows = [1, 2, 3]
        print("prepared", len(rows))
    approver = wait_for("approval")
    with block("Finish"):
        print("approved by", approver, "rows", sum(rows))
"""


def _json(result) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_run_wait_send_resume_and_look(psflow, write):
    write("approval.py", APPROVAL)
    first = psflow("exec", "approval.py", "--job", "ap-1")
    assert first.returncode == 3, first.stderr

    assert [job["status"] for job in _json(psflow("jobs", "--json"))] == ["Waiting"]
    assert psflow("send", "ap-1", "approval=alice").returncode == 0
    planned = psflow("resume", "--dry-run")
    assert planned.returncode == 0 and "replay" in planned.stdout, planned.stdout + planned.stderr
    resumed = psflow("resume")
    assert resumed.returncode == 0, resumed.stderr

    assert "approved by alice rows 6" in resumed.stdout and "prepared" not in resumed.stdout
    detail = _json(psflow("job", "ap-1", "--json"))
    assert (detail["status"], [block["name"] for block in detail["blocks"]]) == (
        "Completed",
        ["Prepare", "wait_for:approval", "Finish"],
    )
    logs = psflow("logs", "ap-1")
    assert logs.returncode == 0 and "prepared 3" in logs.stdout and "approved by alice" in logs.stdout


def test_workers_and_parallel_resume(psflow, write):
    write("gate.py", 'import os\nwith block("A"):\n    x = 1\nif not os.path.exists("go"):\n    stop("Waiting")\n')
    for index in range(3):
        assert psflow("exec", "gate.py", "--job", f"w-{index}").returncode == 3
    write("go", "")

    once = psflow("worker", "--once", "--concurrency", "2")
    assert once.returncode == 0 and "3 Completed" in once.stderr, once.stderr
    assert {job["status"] for job in _json(psflow("jobs", "--json"))} == {"Completed"}


def test_rerun_retry_cancel_remove_prune(psflow, write):
    write(
        "fail.py",
        'import os\nwith block("A"):\n    x = 1\nwith block("B"):\n    if not os.path.exists("fixed"):\n        raise RuntimeError("boom")\n',
    )
    job_id = job_id_of(psflow("exec", "fail.py"))
    assert psflow("retry", job_id).returncode == 0
    write("fixed", "")
    assert psflow("resume", "--job", job_id).returncode == 0
    assert psflow("rerun", job_id, "--only", "A").returncode == 0
    assert psflow("resume", "--job", job_id).returncode == 0
    write("wait.py", 'stop("Waiting")\n')
    waiting = job_id_of(psflow("exec", "wait.py"))
    assert psflow("cancel", waiting, "--reason", "not needed").returncode == 0

    assert psflow("prune", "--older-than", "0s", "--dry-run").returncode == 0
    assert psflow("rm", job_id).returncode == 0
    pruned = psflow("prune", "--older-than", "0s")
    assert pruned.returncode == 0 and "deleted 1 job(s)" in pruned.stderr, pruned.stderr
    assert _json(psflow("jobs", "--json")) == []


def test_registered_workflows(psflow, write):
    write("flow.py", 'with block("A"):\n    print("v1")\n')
    assert psflow("register", "nightly", "flow.py").returncode == 0
    ran = psflow("exec", "nightly")

    assert ran.returncode == 0 and "v1" in ran.stdout, ran.stderr
    assert [row["name"] for row in _json(psflow("workflows", "--json"))] == ["nightly"]


def test_init_and_config(psflow):
    created = psflow("init", "--connection-string", psflow.db_url)
    shown = _json(psflow("config", "--json"))

    assert created.returncode == 0 and "psflow schema" in created.stderr, created.stderr
    assert shown["source"] == "env"
