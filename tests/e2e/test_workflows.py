"""Registered workflows: `psflow register`, `psflow workflows`, `psflow exec NAME`, `resume --latest`.

A registered workflow's source lives in the database, so its jobs run on any
server from any folder, with no file at all. Every test runs the real `psflow`
command on each backend; the compiled-code cache goes to the test's own folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.cli import assert_clean_error, job_id_of

# Prints which version ran; stops Waiting until `<job id>.go` exists in the folder it runs in.
FLOW = """
    from pathlib import Path

    with block("Prepare"):
        prepared = "{version}"
    print("running {version}, prepared by", prepared)
    if not Path(f"{{job.id}}.go").exists():
        stop("Waiting", reason="no go yet")
    with block("Finish"):
        pass
"""


@pytest.fixture
def wf(psflow, tmp_path: Path):
    """`psflow` with the code cache in tmp_path/cache (never the user's own cache folder)."""

    def run(*args: str, cwd: Path | None = None):
        return psflow(*args, cwd=cwd, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})

    run.db_url = psflow.db_url
    return run


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """An empty folder to run from: no script file is there."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def _flow(write, version: str, name: str = "flow.py") -> Path:
    return write(name, FLOW.format(version=version))


def _registered(wf) -> list[dict]:
    result = wf("workflows", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _job(wf, job_id: str) -> dict:
    result = wf("job", job_id, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _workflow_rows(db_url: str) -> int:
    """Rows in psflow_workflow, read directly (0 when there is no database or table yet)."""
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        return 0
    from playhouse.db_url import connect

    db = connect(db_url)
    try:
        if "psflow_workflow" not in db.get_tables():
            return 0
        return db.execute_sql("SELECT count(*) FROM psflow_workflow").fetchone()[0]
    finally:
        db.close()


# ---- register ---------------------------------------------------------------


def test_register_makes_versions_and_identical_source_makes_none(wf, write):
    script = _flow(write, "v1")

    first = wf("register", "nightly", "flow.py")
    again = wf("register", "nightly", "flow.py")
    _flow(write, "v2")
    second = wf("register", "nightly", "flow.py")

    assert (first.returncode, again.returncode, second.returncode) == (0, 0, 0)
    assert first.stderr == "psflow: registered workflow nightly v1: `psflow exec nightly` runs it\n"
    assert again.stderr == "psflow: workflow nightly v1 already has this source: no new version\n"
    assert "registered workflow nightly v2" in second.stderr
    [listed] = _registered(wf)
    assert (listed["name"], listed["version"], listed["versions"], listed["script"]) == ("nightly", 2, 2, str(script))


def test_registering_an_older_source_again_makes_a_new_version_and_says_which(wf, write):
    _flow(write, "v1")
    wf("register", "nightly", "flow.py")
    _flow(write, "v2")
    wf("register", "nightly", "flow.py")
    _flow(write, "v1")

    result = wf("register", "nightly", "flow.py")

    assert result.returncode == 0, result.stderr
    assert "registered workflow nightly v3 (the same source as v1)" in result.stderr
    assert _registered(wf)[0]["versions"] == 3


def test_workflows_json_shape_and_table(wf, write, tmp_path):
    _flow(write, "v1")
    for name in ("zeta", "alpha", "alpha"):
        wf("register", name, "flow.py")
    _flow(write, "v2")
    wf("register", "alpha", "flow.py")

    listed = _registered(wf)
    table = wf("workflows")

    assert [(row["name"], row["version"], row["versions"]) for row in listed] == [("alpha", 2, 2), ("zeta", 1, 1)]
    for row in listed:
        assert set(row) == {
            "name", "version", "versions", "script", "source_sha256", "registered", "first_registered", "user", "host",
        }
        assert isinstance(row["registered"], float) and row["first_registered"] <= row["registered"]
        assert len(row["source_sha256"]) == 64 and row["user"] and row["host"]
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["NAME", "LATEST", "VERSIONS", "REGISTERED", "BY", "ON", "FROM"]
    assert [row.split()[:3] for row in rows] == [["alpha", "v2", "2"], ["zeta", "v1", "1"]]


def test_workflows_name_lists_every_version(wf, write):
    _flow(write, "v1")
    wf("register", "nightly", "flow.py")
    _flow(write, "v2")
    wf("register", "nightly", "flow.py")

    result = wf("workflows", "nightly", "--json")

    assert result.returncode == 0, result.stderr
    versions = json.loads(result.stdout)
    assert [row["version"] for row in versions] == [1, 2]
    assert versions[0]["source_sha256"] != versions[1]["source_sha256"]
    assert_clean_error(wf("workflows", "nosuch"), "no workflow named 'nosuch' is registered")


def test_no_workflows(wf, empty_database):
    result = wf("workflows")

    assert (result.returncode, result.stdout) == (0, "no registered workflows: `psflow register NAME SCRIPT` adds one\n")
    assert _registered(wf) == []


# ---- exec NAME --------------------------------------------------------------


def test_exec_name_runs_the_newest_version_from_any_folder_and_says_so(wf, write, elsewhere):
    _flow(write, "v1")
    wf("register", "nightly", "flow.py")
    _flow(write, "v2")
    wf("register", "nightly", "flow.py")

    result = wf("exec", "nightly", cwd=elsewhere)

    assert result.returncode == 3, result.stderr
    assert result.stdout == "running v2, prepared by v2\n"
    assert result.stderr.splitlines()[0] == (
        "psflow: no file 'nightly' here: running registered workflow nightly v2 (its newest version)"
    )
    detail = _job(wf, job_id_of(result))
    assert (detail["name"], detail["workflow"], detail["workflow_version"]) == ("nightly", "nightly", 2)
    assert detail["script"] == "<workflow nightly v2>"
    assert list(elsewhere.iterdir()) == []  # no file, no __pycache__ where it ran


def test_exec_name_passes_arguments_and_argv0_names_the_workflow(wf, write, elsewhere):
    write("args.py", "import sys\nprint(sys.argv)\n")
    wf("register", "show-args", "args.py")

    result = wf("exec", "show-args", "a", "--b", cwd=elsewhere)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "['<workflow show-args v1>', 'a', '--b']\n"


def test_a_file_of_that_name_wins_over_the_workflow(wf, write):
    write("nightly", "print('the file')\n")
    write("registered.py", "print('the workflow')\n")
    wf("register", "nightly", "registered.py")

    result = wf("exec", "nightly")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "the file\n"
    assert "registered workflow" not in result.stderr


def test_a_job_keeps_its_version_after_a_new_registration(wf, write, elsewhere):
    _flow(write, "v1")
    wf("register", "nightly", "flow.py")
    started = wf("exec", "nightly", "--job", "n1", cwd=elsewhere)
    _flow(write, "v2")
    wf("register", "nightly", "flow.py")
    (elsewhere / "n1.go").touch()

    resumed = wf("resume", cwd=elsewhere)

    assert started.returncode == 3, started.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "running v1, prepared by v1\n"
    [line] = [line for line in resumed.stderr.splitlines() if line.startswith("psflow: job n1:")]
    assert "Completed" in line
    assert "ran workflow nightly v1; v2 is the newest (`psflow resume --latest` moves it there)" in line
    detail = _job(wf, "n1")
    assert (detail["workflow_version"], detail["script"]) == (1, "<workflow nightly v1>")


def test_exec_name_with_an_existing_job_id_continues_it_on_its_own_version(wf, write, elsewhere):
    _flow(write, "v1")
    wf("register", "nightly", "flow.py")
    wf("exec", "nightly", "--job", "n1", cwd=elsewhere)
    _flow(write, "v2")
    wf("register", "nightly", "flow.py")

    again = wf("exec", "nightly", "--job", "n1", cwd=elsewhere)

    assert again.returncode == 3, again.stderr
    assert again.stdout == "running v1, prepared by v1\n"
    assert again.stderr.splitlines()[0] == (
        "psflow: job n1 runs workflow nightly v1; v2 is the newest (`psflow resume --latest` moves it there)"
    )
    assert _job(wf, "n1")["attempts"] == 2


def test_exec_name_under_the_id_of_an_ad_hoc_job_is_refused(wf, write):
    write("other.py", "stop('Waiting')\n")
    wf("exec", "other.py", "--job", "adhoc")
    _flow(write, "v1")
    wf("register", "nightly", "flow.py")

    result = wf("exec", "nightly", "--job", "adhoc")

    assert_clean_error(result, "job adhoc runs", "other.py, not workflow nightly")
    assert _job(wf, "adhoc")["attempts"] == 1


# ---- resume: no file needed; --latest ----------------------------------------


def test_resume_runs_the_stored_source_where_no_file_ever_was(wf, write, tmp_path, elsewhere):
    script = _flow(write, "v1")
    wf("register", "nightly", "flow.py")
    script.unlink()
    started = wf("exec", "nightly", "--job", "n1", cwd=elsewhere)
    third = tmp_path / "third"
    third.mkdir()
    (third / "n1.go").touch()

    resumed = wf("resume", cwd=third)

    assert started.returncode == 3 and resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "running v1, prepared by v1\n"
    assert "Completed — attempt 2, 1 block(s) ran, 1 replayed" in resumed.stderr
    assert sorted(path.name for path in third.iterdir()) == ["n1.go"]
    assert list(elsewhere.iterdir()) == []
    assert any((tmp_path / "cache" / "psflow" / "sources").glob("*.pyc"))  # cached in the cache folder


def test_a_failing_workflow_shows_its_name_and_the_stored_line_in_the_traceback(wf, write, elsewhere):
    write("fails.py", "x = 1\n\nraise RuntimeError(f'broken {x}')\n")
    wf("register", "fails", "fails.py")
    (elsewhere.parent / "fails.py").unlink()

    result = wf("exec", "fails", cwd=elsewhere)

    assert result.returncode == 1
    assert 'File "<workflow fails v1>", line 3, in <module>' in result.stderr
    assert "    raise RuntimeError(f'broken {x}')" in result.stderr
    assert "RuntimeError: broken 1" in result.stderr
    assert "psflow/" not in result.stderr  # none of psflow's own frames


def test_resume_latest_moves_workflow_jobs_and_says_so_per_job(wf, write, elsewhere):
    _flow(write, "v1")
    wf("register", "nightly", "flow.py")
    for job_id in ("n1", "n2"):
        wf("exec", "nightly", "--job", job_id, cwd=elsewhere)
    write("adhoc.py", "stop('Waiting')\n")
    wf("exec", "adhoc.py", "--job", "adhoc")
    _flow(write, "v2")
    wf("register", "nightly", "flow.py")
    (elsewhere / "n1.go").touch()

    result = wf("resume", "--latest", cwd=elsewhere)

    assert result.returncode == 0, result.stderr
    lines = {line.split()[2].rstrip(":"): line for line in result.stderr.splitlines()[:-1]}
    assert "Completed" in lines["n1"] and "moved from workflow nightly v1 to v2 (--latest)" in lines["n1"]
    assert "Waiting" in lines["n2"] and "moved from workflow nightly v1 to v2 (--latest)" in lines["n2"]
    assert "moved" not in lines["adhoc"]
    # Prepare completed under v1 and is replayed: blocks are matched by name.
    assert "running v2, prepared by v1" in result.stdout
    for job_id in ("n1", "n2"):
        detail = _job(wf, job_id)
        assert (detail["workflow_version"], detail["script"]) == (2, "<workflow nightly v2>")
    again = wf("resume", "--latest", "--job", "n2", cwd=elsewhere)
    assert "moved" not in again.stderr  # already on the newest


def test_resume_latest_with_worker_processes(wf, write, elsewhere):
    _flow(write, "v1")
    wf("register", "nightly", "flow.py")
    wf("exec", "nightly", "--job", "n1", cwd=elsewhere)
    _flow(write, "v2")
    wf("register", "nightly", "flow.py")

    result = wf("resume", "--latest", "--parallel", "2", cwd=elsewhere)

    assert result.returncode == 0, result.stderr
    assert "moved from workflow nightly v1 to v2 (--latest)" in result.stderr
    assert _job(wf, "n1")["workflow_version"] == 2


# ---- ad-hoc jobs: the file wins when it is there ------------------------------


def test_an_ad_hoc_job_runs_its_edited_file_and_keeps_the_new_snapshot(wf, write, tmp_path, elsewhere):
    script = _flow(write, "v1")
    wf("exec", "flow.py", "--job", "a1")
    _flow(write, "v2")

    edited = wf("resume")
    script.unlink()
    shutil.rmtree(tmp_path / "__pycache__")
    (elsewhere / "a1.go").touch()
    gone = wf("resume", cwd=elsewhere)

    assert edited.stdout == "running v2, prepared by v1\n"
    assert "the script changed since the last attempt" in edited.stderr
    # The snapshot is the source that ran last (v2), run where the file never was.
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout == "running v2, prepared by v1\n"
    assert "script file not found here: ran the source stored with the job" in gone.stderr
    assert not (tmp_path / "__pycache__").exists()  # no cache written next to the missing file
    assert [path.name for path in elsewhere.iterdir()] == ["a1.go"]


# ---- bad input: a message, exit 2, nothing registered -------------------------


def test_register_a_missing_script(wf, tmp_path):
    assert_clean_error(wf("register", "nightly", "nosuch.py"), f"script not found: {tmp_path / 'nosuch.py'}")
    assert _workflow_rows(wf.db_url) == 0


def test_register_a_script_with_a_syntax_error(wf, write, tmp_path):
    write("broken.py", "x = 1\nprint(x\n")

    result = wf("register", "nightly", "broken.py")

    assert_clean_error(result, f"{tmp_path / 'broken.py'}:2:6: error: syntax error", "was never closed")
    assert _workflow_rows(wf.db_url) == 0


@pytest.mark.parametrize(
    "name", ["has space", "-dash", ".dot", "a/b", "x" * 256, "caf\u00e9", ""], ids=lambda name: repr(name[:12])
)
def test_register_an_invalid_name(wf, write, name):
    _flow(write, "v1")

    assert_clean_error(wf("register", "--", name, "flow.py"), "is not valid", "letters, digits")
    assert _workflow_rows(wf.db_url) == 0


def test_the_longest_name_is_fine(wf, write):
    _flow(write, "v1")
    name = "n" * 255

    assert wf("register", name, "flow.py").returncode == 0
    assert _registered(wf)[0]["name"] == name


def test_exec_of_a_name_that_is_neither_a_file_nor_a_workflow(wf, write, tmp_path, row_counts):
    _flow(write, "v1")
    wf("register", "nightly", "flow.py")

    result = wf("exec", "nighty")

    assert_clean_error(
        result,
        f"script not found: {tmp_path / 'nighty'}",
        "no workflow named 'nighty' is registered",
        "`psflow workflows`",
    )
    assert row_counts()["psflow_job"] == 0
