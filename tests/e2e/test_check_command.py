"""`psflow check`, and the same checks run by `psflow exec` before the first statement, through the real
command: exit codes, what goes to stdout and stderr, and that a warm run reads the warnings from its cache.
What check finds is tested in-process in tests/service/test_preflight.py, how it prints in
tests/cli/test_preview.py, and what exec refuses in tests/service/test_running.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from psflow.service.preflight import check
from support.cli import assert_clean_error, job_id_of
from support.scripts import CLEAN, WARNED


def _nothing_stored(row_counts) -> None:
    assert set(row_counts().values()) == {0}


def test_check_prints_the_blocks_and_exits_0_clean_1_for_warnings_with_strict_2_for_errors(psflow, write, row_counts):
    path = write("clean.py", CLEAN)
    write("warned.py", WARNED)
    write("bad.py", "with block(42):\n    x = 1\n")

    clean = psflow("check", "clean.py")
    warned = psflow("check", "warned.py", "--strict")
    bad = psflow("check", "bad.py")

    assert (clean.returncode, warned.returncode, bad.returncode) == (0, 1, 2), clean.stdout + clean.stderr
    lines = clean.stdout.splitlines()
    assert lines[0] == f"{path}: 2 block(s)"
    assert lines[1].split() == ["LINE", "BLOCK", "BINDS", "READS"]
    assert lines[2].split() == ["5", "'Step1'", "rows", "server"]
    assert lines[3].split() == ["9", 'f"deploy-{host}"', "(dynamic)", "-", "host,", "rows"]
    assert lines[4:] == ["no problems found"]
    assert warned.stdout.splitlines()[-1] == "0 error(s), 3 warning(s)"
    assert ": error: block name must be a str, not int" in bad.stdout
    assert bad.stdout.splitlines()[-1] == "1 error(s), 0 warning(s)"
    assert clean.stderr + warned.stderr + bad.stderr == ""
    assert "Traceback" not in bad.stdout
    _nothing_stored(row_counts)


def test_check_lists_block_functions_too(psflow, write):
    """Each call of an @block function is a block (keyed by its arguments): check lists the functions,
    in a script of `with` blocks and in one with none, and a warm run (from the code cache) says the same."""
    write("mixed.py", '@block("Fetch")\ndef fetch(i):\n    return i\n\nwith block("A"):\n    a = fetch(1)\n')
    path = write("only.py", 'from psflow import block\n\n\n@block("F")\ndef f(x):\n    return x\n')

    mixed = psflow("check", "mixed.py")
    only, again = psflow("check", "only.py"), psflow("check", "only.py")
    as_json = psflow("check", "only.py", "--json")

    assert mixed.returncode == only.returncode == 0, mixed.stderr + only.stderr
    lines = mixed.stdout.splitlines()
    assert lines[3].endswith("1 @block function(s), each call a block keyed by its arguments")
    assert lines[4].split() == ["LINE", "BLOCK", "FUNCTION"] and lines[5].split() == ["1", "'Fetch'", "fetch()"]
    assert only.stdout.splitlines() == [
        f"{path}: 1 @block function(s), each call a block keyed by its arguments",
        "LINE  BLOCK  FUNCTION",
        "4     'F'    f()",
        "no problems found",
    ]
    assert again.stdout == only.stdout
    assert json.loads(as_json.stdout)["functions"] == [{"name": "F", "function": "f", "line": 4}]


def test_check_json_is_the_report(psflow, write):
    path = write("warned.py", WARNED)

    result = psflow("check", "warned.py", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == check(path).to_json()


def test_check_of_a_missing_script_is_a_clean_error(psflow):
    assert_clean_error(psflow("check", "nope.py"), "script not found")


def test_exec_refuses_a_script_with_errors_and_writes_nothing(psflow, write, row_counts, tmp_path):
    path = write("dup.py", 'with block("A"):\n    open("ran", "w").close()\nwith block("A"):\n    pass\n')

    result = psflow("exec", "dup.py")

    assert_clean_error(result, f"{path}:3:12: error: block name 'A' is used twice on one path (first at line 1)")
    assert "fix: give each block its own name" in result.stderr
    assert not (tmp_path / "ran").exists()
    _nothing_stored(row_counts)


def test_exec_prints_warnings_to_stderr_then_runs(psflow, write, jobs):
    path = write("warned.py", WARNED.replace('block "Deploy"', 'block f"Deploy-{host}"'), cold=True)

    result = psflow("exec", "warned.py")

    assert result.returncode == 0, result.stderr
    assert f"psflow: {path}:6:7: warning: block 'Step1' changes `log` in place" in result.stderr
    assert f"psflow: {path}:13:4: warning: this if test uses `pick`" in result.stderr
    assert "warning: block name 'Deploy'" not in result.stderr
    assert "web01\nweb02\n" in result.stdout  # the warnings go to stderr: the script's stdout stays its own
    assert [job["status"] for job in jobs()] == ["Completed"]
    assert result.stderr.index("warning") < result.stderr.index(f"job {job_id_of(result)}")


def test_warm_exec_prints_the_cached_warnings_without_importing_libcst(psflow, write, tmp_path):
    path = write("warned.py", WARNED.replace('block "Deploy"', 'block f"Deploy-{host}"'), cold=True)
    cold = psflow("exec", "warned.py")
    assert cold.returncode == 0, cold.stderr
    environment = {key: value for key, value in os.environ.items() if key != "PSFLOW_JOB_ID"}
    environment.update({"PSFLOW_DB": psflow.db_url, "NO_COLOR": "1"})

    warm = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "psflow", "exec", "warned.py"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )

    assert warm.returncode == 0, warm.stderr
    imported = [line.split("|")[-1].strip() for line in warm.stderr.splitlines() if line.startswith("import time:")]
    assert "psflow.transform.sites" in imported  # the report was read back from the cached code …
    assert not [name for name in imported if name.split(".")[0] == "libcst"]  # … without compiling again
    assert f"psflow: {path}:6:7: warning: block 'Step1' changes `log` in place" in warm.stderr
