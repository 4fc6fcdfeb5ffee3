"""`psflow resume`: which jobs it picks, what it prints, its exit code, and exactly-once blocks."""

from __future__ import annotations

# Stops with the status named in `<job id>.status` ("Fail": raises), if that file exists;
# every block body run is counted in `<job id>.<block>.count`.
STOPPABLE = """
    from pathlib import Path

    def count(name):
        path = Path(f"{job.id}.{name}.count")
        path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))

    with block("Prepare"):
        count("prepare")
        prepared_in = job.attempt

    status_file = Path(f"{job.id}.status")
    if status_file.exists():
        status = status_file.read_text()
        if status == "Fail":
            raise RuntimeError("asked to fail")
        stop(status, reason=f"asked for {status}")

    with block("Finish"):
        count("finish")
    print(job.id, "prepared in attempt", prepared_in)
"""


def _jobs_in(psflow, write, tmp_path, *statuses: str) -> list[str]:
    """Jobs of STOPPABLE, each stopped in one of `statuses` ("Fail" → Failed); ids in that order."""
    write("stoppable.py", STOPPABLE)
    ids = []
    for index, status in enumerate(statuses):
        job_id = f"job{index}-{status.lower()}"
        (tmp_path / f"{job_id}.status").write_text(status)
        result = psflow("exec", "stoppable.py", "--job", job_id)
        assert result.returncode == (1 if status == "Fail" else 3), result.stderr
        ids.append(job_id)
    return ids


def _release(tmp_path, *job_ids: str) -> None:
    for job_id in job_ids:
        (tmp_path / f"{job_id}.status").unlink()


def _count(tmp_path, job_id: str, name: str) -> int:
    path = tmp_path / f"{job_id}.{name}.count"
    return int(path.read_text()) if path.exists() else 0


def _statuses(jobs) -> dict[str, str]:
    return {job["id"]: job["status"] for job in jobs()}


def test_default_is_waiting_jobs_only(psflow, write, tmp_path, jobs):
    waiting, on_hold, failed = _jobs_in(psflow, write, tmp_path, "Waiting", "OnHold", "Fail")
    _release(tmp_path, waiting, on_hold, failed)

    result = psflow("resume")

    assert result.returncode == 0, result.stderr
    assert _statuses(jobs) == {waiting: "Completed", on_hold: "OnHold", failed: "Failed"}
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"psflow: job {waiting}: Completed — attempt 2, 1 block(s) ran, 1 replayed")
    assert lines[1] == "psflow: resumed 1 job(s) in Waiting: 1 Completed"
    assert result.stdout == f"{waiting} prepared in attempt 1\n"


def test_status_option_is_repeatable(psflow, write, tmp_path, jobs):
    waiting, on_hold, failed = _jobs_in(psflow, write, tmp_path, "Waiting", "OnHold", "Fail")
    _release(tmp_path, waiting, on_hold, failed)

    result = psflow("resume", "--status", "OnHold", "-s", "Failed")

    assert result.returncode == 0, result.stderr
    assert _statuses(jobs) == {waiting: "Waiting", on_hold: "Completed", failed: "Completed"}
    assert result.stderr.splitlines()[-1] == "psflow: resumed 2 job(s) in OnHold, Failed: 2 Completed"
    assert len(result.stderr.splitlines()) == 3


def test_job_option_takes_a_unique_prefix(psflow, write, tmp_path, jobs):
    first, second = _jobs_in(psflow, write, tmp_path, "Waiting", "Waiting")
    _release(tmp_path, first, second)

    result = psflow("resume", "--job", "job1")

    assert result.returncode == 0, result.stderr
    assert _statuses(jobs) == {first: "Waiting", second: "Completed"}
    assert result.stderr.splitlines()[-1] == "psflow: resumed 1 job(s) in the named jobs: 1 Completed"


def test_limit_resumes_the_oldest_first(psflow, write, tmp_path, jobs):
    ids = _jobs_in(psflow, write, tmp_path, "Waiting", "Waiting", "Waiting")
    _release(tmp_path, *ids)

    result = psflow("resume", "--limit", "2")

    assert result.returncode == 0, result.stderr
    assert _statuses(jobs) == {ids[0]: "Completed", ids[1]: "Completed", ids[2]: "Waiting"}
    assert len(result.stderr.splitlines()) == 3


def test_exit_1_when_any_job_failed(psflow, write, tmp_path, jobs):
    good, bad = _jobs_in(psflow, write, tmp_path, "Waiting", "Waiting")
    _release(tmp_path, good)
    (tmp_path / f"{bad}.status").write_text("Fail")

    result = psflow("resume")

    assert result.returncode == 1
    assert _statuses(jobs) == {good: "Completed", bad: "Failed"}
    assert result.stderr.splitlines()[-1] == "psflow: resumed 2 job(s) in Waiting: 1 Completed, 1 Failed"
    assert "RuntimeError: asked to fail" in result.stderr


def test_nothing_to_resume(psflow):
    result = psflow("resume")

    assert result.returncode == 0
    assert result.stderr == "psflow: resumed 0 job(s) in Waiting: nothing to do\n"


def test_completed_blocks_run_once_and_their_values_come_back(psflow, write, tmp_path):
    [job_id] = _jobs_in(psflow, write, tmp_path, "Waiting")

    again = [psflow("resume") for _ in range(2)]
    _release(tmp_path, job_id)
    last = psflow("resume")

    assert [result.returncode for result in again] == [0, 0]
    assert all("Waiting (asked for Waiting) — attempt" in result.stderr for result in again)
    assert last.returncode == 0
    assert last.stdout == f"{job_id} prepared in attempt 1\n"
    assert "attempt 4, 1 block(s) ran, 1 replayed" in last.stderr
    assert (_count(tmp_path, job_id, "prepare"), _count(tmp_path, job_id, "finish")) == (1, 1)


def test_saved_values_keep_their_types(psflow, write):
    write(
        "types.py",
        """
        import datetime, decimal, pathlib, uuid

        with block("Make"):
            values = {
                "tuple": (1, "a"),
                "set": {1, 2},
                "bytes": b"\\x00\\xff",
                "when": datetime.datetime(2026, 11, 27, 8, 30, tzinfo=datetime.timezone.utc),
                "day": datetime.date(2026, 11, 27),
                "money": decimal.Decimal("12.50"),
                "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
                "path": pathlib.Path("/srv/app"),
                "nested": [{"k": None}, 1.5, True],
            }
            text = "naïve ✓"
        if job.attempt == 1:
            stop("Waiting")
        for key, value in values.items():
            print(key, type(value).__name__, repr(value))
        print(repr(text))
        """,
    )
    expected = psflow("exec", "types.py").returncode

    result = psflow("resume")

    assert expected == 3
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "tuple tuple (1, 'a')",
        "set set {1, 2}",
        "bytes bytes b'\\x00\\xff'",
        "when datetime datetime.datetime(2026, 11, 27, 8, 30, tzinfo=datetime.timezone.utc)",
        "day date datetime.date(2026, 11, 27)",
        "money Decimal Decimal('12.50')",
        "id UUID UUID('12345678-1234-5678-1234-567812345678')",
        "path PosixPath PosixPath('/srv/app')",
        "nested list [{'k': None}, 1.5, True]",
        "'naïve ✓'",
    ]


def test_a_completed_job_named_explicitly_is_skipped(psflow, write, tmp_path, jobs):
    [job_id] = _jobs_in(psflow, write, tmp_path, "Waiting")
    _release(tmp_path, job_id)
    assert psflow("resume").returncode == 0
    before = jobs()

    result = psflow("resume", "--job", job_id)

    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"psflow: job {job_id}: skipped: already Completed",
        "psflow: resumed 1 job(s) in the named jobs: 1 skipped",
    ]
    assert jobs() == before


def test_a_changed_script_is_mentioned_and_a_failure_still_exits_1(psflow, write, tmp_path, jobs):
    [job_id] = _jobs_in(psflow, write, tmp_path, "Fail")
    script = tmp_path / "stoppable.py"
    script.write_text(script.read_text() + "\n# edited between attempts\n")

    result = psflow("resume", "--status", "Failed")

    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith(f"psflow: job {job_id}:")]
    assert "Failed" in line and "the script changed since the last attempt" in line


def test_a_deleted_script_runs_from_the_stored_source_and_a_failure_still_exits_1(psflow, write, tmp_path):
    [job_id] = _jobs_in(psflow, write, tmp_path, "Fail")
    (tmp_path / "stoppable.py").unlink()

    result = psflow("resume", "--status", "Failed")

    assert result.returncode == 1, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith(f"psflow: job {job_id}:")]
    assert "Failed" in line and "ran the source stored with the job" in line
    assert _count(tmp_path, job_id, "prepare") == 1


def test_a_script_broken_since_is_reported_and_the_other_jobs_still_resume(psflow, write, tmp_path, jobs):
    write("broken.py", 'stop("Waiting")\n')
    broken = psflow("exec", "broken.py", "--job", "a-broken")
    [fine] = _jobs_in(psflow, write, tmp_path, "Waiting")
    _release(tmp_path, fine)
    (tmp_path / "broken.py").write_text('stop("Waiting"\n')

    result = psflow("resume")

    assert broken.returncode == 3
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"psflow: job a-broken: not run: {tmp_path / 'broken.py'}:1:5: error: syntax error" in result.stderr
    assert result.stderr.splitlines()[-1] == "psflow: resumed 2 job(s) in Waiting: 1 Completed, 1 not run"
    assert {job["id"]: (job["status"], job["attempts"]) for job in jobs()} == {
        "a-broken": ("Waiting", 1),
        fine: ("Completed", 2),
    }
