"""How `psflow check` and `psflow resume --dry-run` print (psflow.cli.preview), in plain text as in a
pipe: called in this process with what psflow.service.preflight found (capsys), and through
psflow.cli.main for the dry run's summary line and exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from psflow.cli.preview import print_check, print_plan
from psflow.service.preflight import check, plan_resume
from psflow.store import Store
from support.cli import assert_clean_error
from support.running import run
from support.scripts import CLEAN, STOPS_ONCE, WARNED

# ---- psflow check -----------------------------------------------------------------


def test_a_clean_script_prints_its_blocks_as_a_table(write, capsys) -> None:
    path = write("clean.py", CLEAN)

    print_check(check(path))

    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"{path}: 2 block(s)"
    assert lines[1].split() == ["LINE", "BLOCK", "BINDS", "READS"]
    assert lines[2].split() == ["5", "'Step1'", "rows", "server"]
    assert lines[3].split() == ["9", 'f"deploy-{host}"', "(dynamic)", "-", "host,", "rows"]
    assert lines[-1] == "no problems found"
    assert err == ""


def test_each_warning_prints_with_its_line_and_fix_then_a_count(write, capsys) -> None:
    path = write("warned.py", WARNED)
    result = check(path)

    print_check(result)

    out = capsys.readouterr().out
    for warning in result.warnings:
        assert warning.format() + "\n" in out
    assert f"{path}:6:7: warning: block 'Step1' changes `log` in place, but `log` (open() at line 4)" in out
    assert f"{path}:10:11: warning: block name 'Deploy' is the same on every pass of the loop at line 9" in out
    assert 'fix: give each pass its own name, e.g. block(f"Deploy-{host}")' in out
    assert f"{path}:13:4: warning: this if test uses `pick` (from random.choice() at line 3)" in out
    assert out.count("    fix: ") == 3
    assert out.splitlines()[-1] == "0 error(s), 3 warning(s)"


def test_an_error_prints_with_its_line_and_fix(write, capsys) -> None:
    path = write("bad.py", "with block(42):\n    x = 1\n")

    print_check(check(path))

    out = capsys.readouterr().out
    assert f"{path}:1:12: error: block name must be a str, not int\n    with block(42):\n    fix: " in out
    assert out.splitlines()[-1] == "1 error(s), 0 warning(s)"


def test_a_script_without_blocks_says_so(write, capsys) -> None:
    path = write("plain.py", "print(1)\n")

    print_check(check(path))

    assert capsys.readouterr().out == f"{path}: no blocks found\nno problems found\n"


# ---- psflow resume --dry-run ------------------------------------------------------


def _plan_rows(stdout: str) -> dict[str, tuple[str, str, str]]:
    """{block: (action, line, why)} from the dry run's table (one job)."""
    rows = {}
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["ACTION", "BLOCK", "LINE"])
    for line in lines[header + 1 :]:
        if not line.strip() or line.startswith("job "):
            break
        action, name, number, *why = line.split(maxsplit=3)
        rows[name] = (action, number, why[0] if why else "")
    return rows


@pytest.fixture
def edited(store: Store, write, tmp_path: Path) -> str:
    """A job of STOPS_ONCE stopped after A, B and C; then B changed, C removed and a block New added."""
    write("flow.py", STOPS_ONCE)
    job_id = run(store, Path("flow.py")).job_id
    write(
        "flow.py",
        STOPS_ONCE.replace("b = a + 1", "b = a + 2").replace('    block "C":\n        count("c")\n', "")
        + '\n    block "New":\n        count("new")\n',
    )
    return job_id


def test_a_plan_prints_one_row_per_block_under_its_job(store: Store, edited: str, tmp_path: Path, capsys) -> None:
    [plan] = plan_resume(store)

    print_plan(plan)

    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        f"job {edited} (Waiting, {tmp_path / 'flow.py'}): attempt 2 would do this",
        "note: the script changed since the last attempt; blocks are matched by name",
    ]
    assert _plan_rows(out) == {
        "A": ("replay", "7", "completed in attempt 1"),
        "B": (
            "replay",
            "11",
            ("completed in attempt 1; its code changed since: replays with a warning (--rerun-changed runs it again)"),
        ),
        "Late": ("new", "19", "never ran in this job"),
        "New": ("new", "22", "never ran in this job"),
        "C": ("gone", "-", "completed in attempt 1; no longer in the script"),
    }


def test_a_skipped_job_and_one_that_would_not_run_print_one_line_each(
    store: Store, edited: str, write, tmp_path: Path, capsys
) -> None:
    run(store, write("done.py", 'block "A":\n    pass\n'), "done-job")
    write("flow.py", STOPS_ONCE.replace('block "A":', 'block "A"'))

    for plan in plan_resume(store, job_ids=[edited, "done-job"]):
        print_plan(plan)

    broken, done = capsys.readouterr().out.splitlines()
    assert broken.startswith(f"job {edited} (Waiting, {tmp_path / 'flow.py'}): would not run: ")
    assert "syntax error" in broken
    assert done == f"job done-job (Completed, {tmp_path / 'done.py'}): skipped: already Completed"


def test_a_dry_run_ends_with_what_it_would_do_and_exits_1_if_a_job_could_not_run(
    cli, store: Store, edited: str, write
) -> None:
    clean = cli("resume", "--dry-run")
    rerun_changed = cli("resume", "--dry-run", "--rerun-changed")
    run(store, write("done.py", 'block "A":\n    pass\n'), "done-job")
    write("flow.py", STOPS_ONCE.replace('block "A":', 'block "A"'))
    failing = cli("resume", "--dry-run", "--job", edited, "--job", "done-job")

    assert clean.returncode == 0, clean.stderr
    assert clean.stderr == (
        "psflow: dry run: 1 job(s) would be resumed, 0 skipped, 0 could not run; nothing ran and nothing was written\n"
    )
    assert _plan_rows(clean.stdout)["B"][0] == "replay"
    assert _plan_rows(rerun_changed.stdout)["B"] == (
        "run",
        "11",
        "completed in attempt 1; its code changed since: runs again",
    )
    assert failing.returncode == 1
    assert "psflow: dry run: 0 job(s) would be resumed, 1 skipped, 1 could not run" in failing.stderr


def test_a_dry_run_cannot_send_inputs(cli, edited: str) -> None:
    assert_clean_error(
        cli("resume", "--dry-run", "--job", edited, "--set", "approval=yes"),
        "--dry-run writes nothing, so it cannot --set inputs: send them with `psflow send`",
    )
