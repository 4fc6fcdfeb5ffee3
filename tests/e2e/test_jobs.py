"""`psflow jobs` and `psflow job`: the table, the JSON shape, filters and prefix lookup."""

from __future__ import annotations

from support.cli import assert_clean_error

# Attempt 1 runs "b-first" then stops; attempt 2 runs "a-second" before replaying "b-first",
# so the order blocks first ran differs from both name order and the order of attempt 2.
ORDERED = """
    if job.attempt > 1:
        with block("a-second"):
            pass
    with block("b-first"):
        pass
    if job.attempt == 1:
        stop("Waiting", reason="see you")
    with block("c-third"):
        pass
"""


def _three_jobs(psflow, write) -> None:
    write("done.py", "print('done')\n")
    write("wait.py", "stop('Waiting')\n")
    for job_id, script in (("alpha-1", "done.py"), ("alpha-2", "wait.py"), ("beta-1", "wait.py")):
        psflow("exec", script, "--job", job_id)


def test_no_jobs(psflow, jobs, empty_database):
    result = psflow("jobs")

    assert (result.returncode, result.stdout) == (0, "no jobs\n")
    assert jobs() == []


def test_jobs_table_has_one_row_per_job_under_its_columns(psflow, write, tmp_path):
    _three_jobs(psflow, write)

    result = psflow("jobs")

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "SCRIPT", "STATUS", "ATTEMPTS", "UPDATED", "HOST"]
    cells = {row.split()[0]: row.split() for row in rows}
    assert set(cells) == {"alpha-1", "alpha-2", "beta-1"}
    assert cells["alpha-1"][1:4] == [str(tmp_path / "done.py"), "Completed", "1"]
    assert cells["beta-1"][1:4] == [str(tmp_path / "wait.py"), "Waiting", "1"]
    # Columns line up: each cell starts where its header does.
    assert all(row.index(cells[row.split()[0]][2]) == header.index("STATUS") for row in rows)


def test_jobs_json_shape(psflow, write, tmp_path, jobs):
    _three_jobs(psflow, write)

    found = jobs()

    assert isinstance(found, list) and len(found) == 3
    for job in found:
        assert {"id", "status", "script", "attempts"} <= set(job)
        assert isinstance(job["attempts"], int)
    # Most recently updated first.
    assert [job["id"] for job in found] == ["beta-1", "alpha-2", "alpha-1"]
    assert found[0]["script"] == str(tmp_path / "wait.py")


def test_jobs_status_and_limit_filters(psflow, write, jobs):
    _three_jobs(psflow, write)

    assert [job["id"] for job in jobs("--status", "Waiting")] == ["beta-1", "alpha-2"]
    assert [job["id"] for job in jobs("--status", "Completed")] == ["alpha-1"]
    assert {job["id"] for job in jobs("-s", "Completed", "-s", "Waiting")} == {"alpha-1", "alpha-2", "beta-1"}
    assert jobs("--status", "Failed") == []
    assert [job["id"] for job in jobs("--limit", "1")] == ["beta-1"]
    assert [job["id"] for job in jobs("--status", "Waiting", "-n", "1")] == ["beta-1"]


def test_job_json_lists_blocks_in_the_order_they_first_ran(psflow, write, job_detail):
    write("ordered.py", ORDERED)
    psflow("exec", "ordered.py", "--job", "ordered")
    psflow("resume")

    detail = job_detail("ordered")

    assert {"id", "status", "script", "attempts", "blocks"} <= set(detail)
    assert (detail["id"], detail["status"], detail["attempts"]) == ("ordered", "Completed", 2)
    assert [(b["name"], b["status"], b["attempt"]) for b in detail["blocks"]] == [
        ("b-first", "Completed", 1),
        ("a-second", "Completed", 2),
        ("c-third", "Completed", 2),
    ]


def test_job_json_shows_a_stopped_block(psflow, write, job_detail):
    write("gate.py", 'with block("Gate"):\n    stop("Waiting", reason="not yet")\n')
    psflow("exec", "gate.py", "--job", "gate")

    detail = job_detail("gate")

    assert (detail["status"], detail["reason"]) == ("Waiting", "not yet")
    assert [(b["name"], b["status"], b["attempt"]) for b in detail["blocks"]] == [("Gate", "Stopped", 1)]


def test_job_by_unique_prefix(psflow, write, job_detail):
    _three_jobs(psflow, write)

    assert job_detail("bet")["id"] == "beta-1"
    assert job_detail("alpha-2")["id"] == "alpha-2"
    text = psflow("job", "alpha-1")
    assert text.returncode == 0, text.stderr
    assert "job       alpha-1" in text.stdout and "status    Completed" in text.stdout


def test_job_text_output(psflow, write):
    write("ordered.py", ORDERED)
    psflow("exec", "ordered.py", "--job", "ordered", "arg1")

    result = psflow("job", "ordered")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "job       ordered"
    assert lines[1].endswith("ordered.py arg1")
    assert lines[2] == "status    Waiting (see you)"
    assert lines[3] == "attempts  1"
    assert "blocks" in lines
    table = lines[lines.index("blocks") + 1:]
    assert table[0].split() == ["BLOCK", "STATUS", "ATTEMPT", "DURATION", "HOST"]
    assert table[1].split()[:3] == ["b-first", "Completed", "1"]


def test_job_ids_are_case_sensitive_prefixes(psflow, write):
    write("wait.py", "stop('Waiting')\n")
    psflow("exec", "wait.py", "--job", "Upper-1")

    assert_clean_error(psflow("job", "upper"), "no job with id 'upper'")
