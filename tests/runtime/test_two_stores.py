"""Each Store owns its connection and its tables: a job that reads another database meanwhile is unaffected."""

from __future__ import annotations

import textwrap
from pathlib import Path

import psflow
from psflow import api
from psflow.store import open_store


def test_a_job_that_lists_another_database_between_blocks_still_ends_completed(tmp_path: Path) -> None:
    """Reproduced on the old global DatabaseProxy: the job row stayed Running with an open attempt."""
    main_db, other_db = f"sqlite:///{tmp_path / 'main.sqlite'}", f"sqlite:///{tmp_path / 'other.sqlite'}"
    api.run(_script(tmp_path, "other.py", 'with block("There"):\n    x = 1\n'), db=other_db)
    script = _script(
        tmp_path,
        "flow.py",
        f"""
        import psflow
        with block("Before"):
            a = 1
        seen = psflow.jobs(db={other_db!r})
        with block("After"):
            b = len(seen)
        print("other jobs:", b)
        """,
    )

    result = api.run(script, db=main_db)

    assert (result.status, result.ran) == ("Completed", 2)
    with open_store(main_db) as store:
        (job,) = store.list_jobs()
        assert (job.status, job.lease_until) == ("Completed", None)
        assert [(a.number, a.outcome) for a in store.attempts(job.id)] == [(1, "Completed")]
        assert [run.name for run in store.block_runs(job.id)] == ["Before", "After"]
    with open_store(other_db) as store:
        assert [job.name for job in store.list_jobs()] == ["other"]
        assert store.block_runs(store.list_jobs()[0].id)[0].name == "There"


def test_two_stores_in_one_thread_keep_to_their_own_database(tmp_path: Path) -> None:
    with (
        psflow.connect(f"sqlite:///{tmp_path / 'a.sqlite'}") as first,
        psflow.connect(f"sqlite:///{tmp_path / 'b.sqlite'}") as second,
    ):
        api.run(_script(tmp_path, "one.py", 'with block("A"):\n    x = 1\n'), store=first)
        api.run(_script(tmp_path, "two.py", 'with block("B"):\n    y = 2\n'), store=second)
        assert [job["name"] for job in api.jobs(store=first)] == ["one"]
        assert [job["name"] for job in api.jobs(store=second)] == ["two"]
        assert first.tables.job is not second.tables.job


def _script(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path
