"""Registered workflows through the real command: what `psflow register`, `psflow workflows`,
`psflow exec NAME` and `psflow resume --latest` print and exit with, run from a folder with no script
file, in worker processes too, and the one-line error for each bad input. What is stored and which
source runs is tested in-process in tests/service/test_workflows.py and test_sources.py; how the
commands print in tests/cli/test_commands_setup.py. The `store` fixture puts the code cache of stored
sources under the test's folder (XDG_CACHE_HOME), for the commands too.
"""

from __future__ import annotations

import json
from pathlib import Path

from psflow.service import workflows
from psflow.store import Store
from support.cli import assert_clean_error, job_id_of
from support.running import run
from support.scripts import write_versioned


def test_register_says_which_version_it_made_and_workflows_lists_it(psflow, store: Store, tmp_path: Path) -> None:
    script = write_versioned(tmp_path, "v1")

    first = psflow("register", "nightly", "flow.py")
    again = psflow("register", "nightly", "flow.py")
    listed = psflow("workflows")

    assert (first.returncode, again.returncode, listed.returncode) == (0, 0, 0)
    assert (first.stdout, first.stderr) == (
        "",
        "psflow: registered workflow nightly v1: `psflow exec nightly` runs it\n",
    )
    assert again.stderr == "psflow: workflow nightly v1 already has this source: no new version\n"
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "LATEST", "VERSIONS", "REGISTERED", "BY", "ON", "FROM"]
    assert row.split()[:3] == ["nightly", "v1", "1"] and row.rstrip().endswith(str(script))


def test_exec_name_runs_the_newest_version_from_any_folder_and_says_so(
    psflow, store: Store, tmp_path: Path, elsewhere: Path
) -> None:
    script = write_versioned(tmp_path, "v1")
    workflows.register(store, "nightly", script)
    write_versioned(tmp_path, "v2")
    workflows.register(store, "nightly", script)

    result = psflow("exec", "nightly", cwd=elsewhere)

    assert result.returncode == 3, result.stderr
    assert result.stdout == "running v2, prepared by v2\n"
    assert result.stderr.splitlines()[0] == (
        "psflow: no file 'nightly' here: running registered workflow nightly v2 (its newest version)"
    )
    job = store.get_job(job_id_of(result))
    assert (job.name, job.workflow, job.workflow_version, job.script) == (
        "nightly",
        "nightly",
        2,
        "<workflow nightly v2>",
    )
    assert list(elsewhere.iterdir()) == []  # no file, no __pycache__ where it ran


def test_resume_latest_moves_workflow_jobs_and_says_so_per_job(
    psflow, store: Store, write, tmp_path: Path, elsewhere: Path
) -> None:
    script = write_versioned(tmp_path, "v1")
    workflows.register(store, "nightly", script)
    run(store, write("adhoc.py", "stop('Waiting')\n"), "adhoc")
    for job_id in ("n1", "n2"):
        run(store, "nightly", job_id)
    write_versioned(tmp_path, "v2")
    workflows.register(store, "nightly", script)
    (elsewhere / "n1.go").touch()

    result = psflow("resume", "--latest", cwd=elsewhere)

    assert result.returncode == 0, result.stderr
    *jobs, summary = result.stderr.splitlines()
    lines = {line.split()[2].rstrip(":"): line for line in jobs}
    assert lines["n1"].startswith("psflow: job n1: Completed — attempt 2, ")
    assert lines["n1"].endswith("; moved from workflow nightly v1 to v2 (--latest)")
    assert lines["n2"].startswith("psflow: job n2: Waiting (no go yet) — attempt 2, ")
    assert lines["n2"].endswith("; moved from workflow nightly v1 to v2 (--latest)")
    assert "moved" not in lines["adhoc"]
    assert summary == "psflow: resumed 3 job(s) in Waiting: 1 Completed, 2 Waiting"
    assert "running v2, prepared by v1" in result.stdout


def test_resume_latest_with_worker_processes(psflow, store: Store, tmp_path: Path, elsewhere: Path) -> None:
    workflows.register(store, "nightly", write_versioned(tmp_path, "v1"))
    run(store, "nightly", "n1")
    workflows.register(store, "nightly", write_versioned(tmp_path, "v2"))

    result = psflow("resume", "--latest", "--parallel", "2", cwd=elsewhere)

    assert result.returncode == 0, result.stderr
    assert "moved from workflow nightly v1 to v2 (--latest)" in result.stderr
    assert store.get_job("n1").workflow_version == 2


def test_bad_registrations_are_clean_errors_that_register_nothing(psflow, store: Store, write, tmp_path: Path) -> None:
    write("broken.py", "x = 1\nprint(x\n")
    write_versioned(tmp_path, "v1")
    assert workflows.workflows(store) == []  # the database exists (commands that only read never make one)

    assert_clean_error(psflow("register", "nightly", "nosuch.py"), f"script not found: {tmp_path / 'nosuch.py'}")
    assert_clean_error(
        psflow("register", "nightly", "broken.py"),
        f"{tmp_path / 'broken.py'}:2:6: error: syntax error",
        "was never closed",
    )
    assert_clean_error(psflow("register", "--", "-dash", "flow.py"), "is not valid", "letters, digits")
    assert_clean_error(psflow("workflows", "nosuch"), "no workflow named 'nosuch' is registered")
    assert workflows.workflows(store) == []


def test_exec_of_a_name_no_file_or_workflow_has_or_under_an_ad_hoc_jobs_id_is_a_clean_error(
    psflow, store: Store, write, tmp_path: Path
) -> None:
    run(store, write("other.py", "stop('Waiting')\n"), "adhoc")
    workflows.register(store, "nightly", write_versioned(tmp_path, "v1"))

    assert_clean_error(
        psflow("exec", "nighty"),
        f"script not found: {tmp_path / 'nighty'}",
        "no workflow named 'nighty' is registered",
        "`psflow workflows`",
    )
    assert_clean_error(psflow("exec", "nightly", "--job", "adhoc"), "job adhoc runs", "other.py, not workflow nightly")
    assert [(job["id"], job["attempts"]) for job in json.loads(psflow("jobs", "--json").stdout)] == [("adhoc", 1)]
