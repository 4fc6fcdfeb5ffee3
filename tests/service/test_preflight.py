"""psflow.service.preflight in-process: `check` (a script's blocks and what would go wrong with them),
`transformed_source` (what `psflow show` prints) and `plan_resume` (what `psflow resume --dry-run`
says per job: replay, run, new, dynamic, gone), on every backend. Nothing here runs a script or
writes to the database. How the results print is in tests/cli/test_preview.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from psflow.errors import ScriptError
from psflow.service.preflight import BlockPlan, check, plan_resume, transformed_source
from psflow.store import Store
from psflow.transform import TransformError
from support.database import snapshot
from support.running import run
from support.scripts import CLEAN, STOPS_ONCE, WARNED, count_of

# ---- check ------------------------------------------------------------------------


def test_a_clean_script_lists_its_blocks_and_has_nothing_to_say(write) -> None:
    path = write("clean.py", CLEAN)

    result = check(path)

    assert result.file == str(path)
    assert [(site.line, site.name, site.dynamic, site.binds, site.reads) for site in result.sites] == [
        (5, "Step1", False, ("rows",), ("server",)),
        (9, 'f"deploy-{host}"', True, (), ("host", "rows")),
    ]
    assert result.diagnostics == ()
    assert (result.exit_code(), result.exit_code(strict=True)) == (0, 0)


def test_each_warning_has_file_line_column_and_fix_and_fails_only_a_strict_check(write) -> None:
    path = write("warned.py", WARNED)

    result = check(path)

    assert (result.exit_code(), result.exit_code(strict=True)) == (0, 1)
    assert result.errors == []
    step1, deploy, pick = (warning.format() for warning in result.warnings)
    assert step1.startswith(f"{path}:6:7: warning: block 'Step1' changes `log` in place, but `log` (open() at line 4)")
    assert deploy.startswith(
        f"{path}:10:11: warning: block name 'Deploy' is the same on every pass of the loop at line 9"
    )
    assert deploy.endswith('\n    fix: give each pass its own name, e.g. block(f"Deploy-{host}")')
    assert pick.startswith(f"{path}:13:4: warning: this if test uses `pick` (from random.choice() at line 3)")
    assert all("\n    fix: " in text for text in (step1, deploy, pick))


@pytest.mark.parametrize(
    ("source", "line", "message", "fix"),
    [
        pytest.param(
            'with block("A"):\n    x = 1\nprint(x)\nwith block("A"):\n    y = 2\n',
            4,
            "block name 'A' is used twice on one path (first at line 1)",
            "give each block its own name",
            id="twice",
        ),
        pytest.param(
            "with block(42):\n    x = 1\n",
            1,
            "block name must be a str, not int",
            "name the block with a str",
            id="not-a-str",
        ),
        pytest.param(
            'block "A":\n    def helper():\n        pass\n',
            2,
            "a function defined inside a block cannot be saved",
            "define it before the block",
            id="def-in-block",
        ),
        pytest.param(
            'def gen():\n    with block("A"):\n        yield 1\n',
            3,
            "`yield` inside a block cannot be replayed",
            "move it out of the block",
            id="yield",
        ),
    ],
)
def test_each_error_has_file_line_and_fix_and_fails_the_check(
    write, source: str, line: int, message: str, fix: str
) -> None:
    path = write("bad.py", source)

    result = check(path)

    assert (result.exit_code(), result.exit_code(strict=True)) == (2, 2)
    [error] = result.errors
    text = error.format()
    assert text.startswith(f"{path}:{line}:") and f": error: {message}" in text
    assert f"\n    fix: {fix}" in text


def test_the_json_report_has_every_block_and_diagnostic(write) -> None:
    path = write("warned.py", WARNED)

    report = check(path).to_json()

    assert set(report) == {"file", "blocks", "functions", "diagnostics"}
    assert report["file"] == str(path)
    assert [block["name"] for block in report["blocks"]] == ["Step1", "Deploy", "Extra"]
    step1 = report["blocks"][0]
    assert set(step1) == {"name", "dynamic", "line", "binds", "reads", "fingerprint"}
    assert (step1["dynamic"], step1["line"], step1["binds"], step1["reads"]) == (False, 6, [], ["log"])
    assert len(step1["fingerprint"]) == 16 and int(step1["fingerprint"], 16) >= 0
    assert [(d["severity"], d["line"], d["column"]) for d in report["diagnostics"]] == [
        ("warning", 6, 7),
        ("warning", 10, 11),
        ("warning", 13, 4),
    ]
    assert all(set(d) == {"severity", "line", "column", "message", "fix"} and d["fix"] for d in report["diagnostics"])


def test_the_json_report_of_a_script_with_errors_still_lists_its_blocks(write) -> None:
    path = write("dup.py", 'with block("A"):\n    pass\nwith block(f"B-{1}"):\n    pass\nwith block("A"):\n    pass\n')

    result = check(path)
    report = result.to_json()

    assert result.exit_code() == 2
    assert [(b["name"], b["dynamic"]) for b in report["blocks"]] == [("A", False), ('f"B-{1}"', True), ("A", False)]
    assert [(d["severity"], d["line"]) for d in report["diagnostics"]] == [("error", 5)]


def test_a_syntax_error_is_a_diagnostic_and_a_missing_script_an_error(write, tmp_path: Path) -> None:
    path = write("broken.py", 'with block("A"):\nx = 1\n')

    [diagnostic] = check(path).to_json()["diagnostics"]

    assert diagnostic["message"].startswith("syntax error") and diagnostic["line"] == 2
    with pytest.raises(ScriptError, match=f"script not found: {tmp_path / 'nope.py'}"):
        check(tmp_path / "nope.py")


# ---- show ---------------------------------------------------------------------------

SHOWN = """\
import os

server = os.environ.get("SQL_SERVER", "db01")

block "Step1":
    rows = 42 + len(server)

with block("Finish"):
    print(rows)
"""


def test_show_gives_the_rewritten_source(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(SHOWN)

    text = transformed_source(tmp_path / "flow.py")

    assert text.count(".at(") == 2
    assert 'with block("Step1").at(5, ' in text
    assert 'with block("Finish").at(8, ' in text
    assert 'block "Step1":' not in text
    for statement in ('server = os.environ.get("SQL_SERVER", "db01")', "rows = 42 + len(server)", "print(rows)"):
        assert statement in text
    compile(text, "flow.py", "exec")  # what it shows is Python that compiles
    assert (tmp_path / "flow.py").read_text() == SHOWN


def test_show_diff_is_a_unified_diff(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(SHOWN)

    lines = transformed_source(tmp_path / "flow.py", diff=True).splitlines()

    assert lines[0].startswith("--- ") and "flow.py" in lines[0]
    assert lines[1].startswith("+++ ") and "flow.py" in lines[1]
    assert lines[2].startswith("@@ ")
    assert '-block "Step1":' in lines
    assert '-with block("Finish"):' in lines
    assert any(line.startswith('+with block("Step1").at(5, ') for line in lines)
    assert "     rows = 42 + len(server)" in lines  # unchanged lines are context
    assert all(line[:1] in "-+@ " for line in lines)


def test_a_script_without_blocks_is_shown_unchanged(tmp_path: Path) -> None:
    source = "# just a script\nimport sys\n\nprint(sys.argv)  # no blocks here\n"
    (tmp_path / "plain.py").write_text(source)

    assert transformed_source(tmp_path / "plain.py") == source
    assert transformed_source(tmp_path / "plain.py", diff=True) == ""


def test_show_reports_what_exec_would_refuse(tmp_path: Path) -> None:
    (tmp_path / "named.py").write_text("with block(42):\n    y = 2\n")

    with pytest.raises(ScriptError, match=f"^script not found: {tmp_path / 'nosuch.py'}"):
        transformed_source(tmp_path / "nosuch.py")
    with pytest.raises(TransformError) as refused:
        transformed_source(tmp_path / "named.py")
    assert (
        refused.value.diagnostics[0]
        .format()
        .startswith(f"{tmp_path / 'named.py'}:1:12: error: block name must be a str")
    )


# ---- resume --dry-run -------------------------------------------------------------


@pytest.fixture
def stopped(store: Store, write) -> str:
    """A job of STOPS_ONCE (flow.py) that stopped Waiting after blocks A, B and C."""
    write("flow.py", STOPS_ONCE)
    first = run(store, Path("flow.py"))
    assert first.status == "Waiting"
    return first.job_id


def _rows(blocks: tuple[BlockPlan, ...]) -> dict[str, tuple[str, int | None, str]]:
    return {block.name: (block.action, block.line, block.detail) for block in blocks}


def test_a_dry_run_says_what_would_replay_run_be_new_or_gone_and_writes_nothing(
    store: Store, stopped: str, write, tmp_path: Path, db_url: str
) -> None:
    edited = (
        STOPS_ONCE.replace("b = a + 1", "b = a + 2").replace(  # B's code changed
            '    block "C":\n        count("c")\n', ""
        )  # C is gone
        + '\n    block "New":\n        count("new")\n'
    )
    write("flow.py", edited)
    before = snapshot(db_url)

    [plan] = plan_resume(store)

    assert (plan.job_id, plan.status, plan.script, plan.attempt) == (stopped, "Waiting", str(tmp_path / "flow.py"), 2)
    assert (plan.skipped, plan.error) == (None, None)
    assert plan.note == "the script changed since the last attempt; blocks are matched by name"
    assert _rows(plan.blocks) == {
        "A": ("replay", 7, "completed in attempt 1"),
        "B": (
            "replay",
            11,
            ("completed in attempt 1; its code changed since: replays with a warning (--rerun-changed runs it again)"),
        ),
        "Late": ("new", 19, "never ran in this job"),
        "New": ("new", 22, "never ran in this job"),
        "C": ("gone", None, "completed in attempt 1; no longer in the script"),
    }
    assert [block.changed for block in plan.blocks] == [False, True, False, False, False]
    assert snapshot(db_url) == before
    assert (count_of(tmp_path, "a"), count_of(tmp_path, "b"), count_of(tmp_path, "late")) == (1, 1, 0)

    [rerun] = plan_resume(store, rerun_changed=True)
    assert _rows(rerun.blocks)["B"] == ("run", 11, "completed in attempt 1; its code changed since: runs again")


def test_a_dry_run_shows_failed_blocks_and_dynamic_names_and_no_gone_block_a_name_could_make(
    store: Store, write
) -> None:
    write(
        "hosts.py",
        """
        block "Prepare":
            hosts = ["web01", "web02"]
        for host in hosts:
            with block(f"deploy-{host}"):
                if host == "web02":
                    raise RuntimeError("web02 is down")
        """,
    )
    assert run(store, Path("hosts.py")).status == "Failed"

    [plan] = plan_resume(store, statuses=["Failed"])

    rows = _rows(plan.blocks)
    assert rows["Prepare"] == ("replay", 1, "completed in attempt 1")
    action, line, detail = rows['f"deploy-{host}"']
    assert (action, line) == ("dynamic", 4)
    assert detail == "dynamic: decided at run time (1 completed block(s) it may make again replay: deploy-web01)"
    assert "gone" not in {block.action for block in plan.blocks}  # f"deploy-{host}" makes deploy-web01

    write("hosts.py", 'block "Prepare":\n    hosts = []\nblock "deploy-web02":\n    pass\n')
    rows = _rows(plan_resume(store, statuses=["Failed"])[0].blocks)
    assert rows["deploy-web02"] == ("run", 3, "Failed in attempt 1")
    assert rows["deploy-web01"] == ("gone", None, "completed in attempt 1; no longer in the script")


def test_a_dry_run_skips_final_jobs_and_says_which_scripts_would_not_run(store: Store, stopped: str, write) -> None:
    write("done.py", 'block "A":\n    pass\n')
    assert run(store, Path("done.py"), "done-job").status == "Completed"
    write("flow.py", STOPS_ONCE.replace('block "A":', 'block "A"'))  # a syntax error now

    broken, done = plan_resume(store, job_ids=[stopped, "done-job"])

    assert broken.job_id == stopped and broken.error.startswith(f"{Path('flow.py').resolve()}:")
    assert "syntax error" in broken.error
    assert (broken.skipped, broken.blocks) == (None, ())
    assert (done.job_id, done.status, done.error) == ("done-job", "Completed", None)
    assert done.skipped == "skipped: already Completed"


def test_a_dry_run_takes_the_jobs_resume_would_take(store: Store, stopped: str, write) -> None:
    second = run(store, Path("flow.py")).job_id

    assert [plan.job_id for plan in plan_resume(store)] == [stopped, second]  # oldest first, as resume
    assert [plan.job_id for plan in plan_resume(store, limit=1)] == [stopped]
    assert plan_resume(store, statuses=["Failed"]) == []
