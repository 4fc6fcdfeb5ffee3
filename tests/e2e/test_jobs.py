"""`psflow jobs` and `psflow job` through the real command: the table and the job's text, in a pipe.
Filters, the JSON shape and prefix lookup are tested in-process in tests/service/test_history.py,
the rendering in tests/cli/test_render.py and the arguments in tests/cli/test_commands_history.py."""

from __future__ import annotations

from pathlib import Path

from psflow.store import Store
from support.running import run, three_jobs
from support.scripts import ORDERED


def test_jobs_prints_one_row_per_job_under_its_columns(psflow, store: Store, tmp_path: Path) -> None:
    three_jobs(store, tmp_path)

    result = psflow("jobs")

    assert (result.returncode, result.stderr) == (0, "")
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "SCRIPT", "STATUS", "WAITS", "FOR", "ATTEMPTS", "UPDATED", "HOST"]
    cells = {row.split()[0]: row.split() for row in rows}
    assert list(cells) == ["beta-1", "alpha-2", "alpha-1"]
    assert cells["alpha-1"][1:5] == [str(tmp_path / "done.py"), "Completed", "-", "1"]
    assert cells["beta-1"][1:3] == [str(tmp_path / "wait.py"), "Waiting"]
    assert all(row.index(cells[row.split()[0]][2]) == header.index("STATUS") for row in rows)


def test_job_prints_the_job_its_blocks_and_its_attempts(psflow, store: Store, write) -> None:
    run(store, write("ordered.py", ORDERED), "ordered", ["arg1"])

    result = psflow("job", "ordered")

    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == "job       ordered"
    assert lines[1].endswith("ordered.py arg1")
    assert lines[2] == "status    Waiting (see you)"
    assert lines[3] == "attempts  1"
    table = lines[lines.index("blocks") + 1 :]
    assert table[0].split() == ["BLOCK", "STATUS", "ATTEMPT", "DURATION", "HOST"]
    assert table[1].split()[:3] == ["b-first", "Completed", "1"]
    assert any(line.startswith("attempt 1: Waiting (see you) — on ") for line in lines)


def _many_jobs(store: Store, count: int) -> None:
    """`count` Completed jobs made straight through the store (no script needs to run for a listing)."""
    from psflow.domain import JobStatus, Runner

    runner = Runner(host="here", pid=1, started=0.0, lease_seconds=60)
    for index in range(count):
        job_id = f"job-{index:03d}"
        store.create_job(
            job_id, name="flow", script="/srv/flow.py", source="", source_sha256="f" * 64, args=[], runner=runner
        )
        store.finish_attempt(job_id, 1, status=JobStatus.COMPLETED, reason=None)


def test_jobs_on_a_terminal_shows_the_newest_page_and_how_many_more(psflow, store: Store, tmp_path: Path) -> None:
    from support.terminal import STYLE, on_terminal

    _many_jobs(store, 53)

    code, paged, _ = on_terminal(psflow.db_url, tmp_path, "jobs")
    _, everything, _ = on_terminal(psflow.db_url, tmp_path, "jobs", "--all")
    piped = psflow("jobs")

    paged = STYLE.sub("", paged)
    assert code == 0
    assert "job-052" in paged and "job-003" in paged and "job-002" not in paged  # the newest 50
    assert "… 3 more: --limit N or --all lists them" in paged
    assert "job-000" in STYLE.sub("", everything) and "more:" not in everything
    assert len(piped.stdout.splitlines()) == 1 + 53 and "more:" not in piped.stdout  # a pipe gets every job


def test_job_on_a_terminal_shows_the_last_page_of_each_table_and_all_of_them_with_all(
    psflow, store: Store, write, tmp_path: Path
) -> None:
    from support.terminal import STYLE, on_terminal

    script = write("many.py", 'for n in range(250):\n    with block(f"step {n:03d}"):\n        pass\n')
    run(store, script, "many")

    code, paged, _ = on_terminal(psflow.db_url, tmp_path, "job", "many")
    _, everything, _ = on_terminal(psflow.db_url, tmp_path, "job", "many", "--all")
    piped = psflow("job", "many")

    paged, everything = STYLE.sub("", paged), STYLE.sub("", everything)
    assert code == 0
    assert paged.count("… 200 earlier rows: --all lists them") == 2  # the blocks, and attempt 1's
    assert paged.count("step 249") == 2 and "step 200" in paged and "step 199" not in paged
    assert everything.count("step 000") == 2 and "earlier rows" not in everything  # 250 rows: plain columns
    assert piped.stdout.count("step 000") == 2 and "earlier rows" not in piped.stdout  # a pipe gets every block


def test_jobs_all_and_limit_together_are_refused(psflow, store: Store) -> None:
    from support.cli import assert_clean_error

    assert_clean_error(psflow("jobs", "--all", "--limit", "3"), "--all and --limit cannot be combined")
