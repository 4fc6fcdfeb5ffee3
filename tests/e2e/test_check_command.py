"""`psflow check`, and the same checks run by `psflow exec` before the first statement."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support.cli import assert_clean_error, job_id_of

CLEAN = """
    import os

    server = os.environ.get("SQL_SERVER", "db01")

    block "Step1":
        rows = len(server)

    for host in ["web01", "web02"]:
        with block(f"deploy-{host}"):
            print("deploy", host, rows)
"""

# One of each warning psflow check gives, each on a line of its own.
WARNED = """
    import random

    pick = random.choice(["a", "b"])
    log = open("run.log", "a")

    block "Step1":
        log.write("step1\\n")

    for host in ["web01", "web02"]:
        block "Deploy":
            print(host)

    if pick == "a":
        with block("Extra"):
            print("extra")
"""


def _nothing_stored(row_counts) -> None:
    assert set(row_counts().values()) == {0}


def test_clean_script_lists_its_blocks_and_exits_0(psflow, write):
    path = write("clean.py", CLEAN)

    result = psflow("check", "clean.py")
    strict = psflow("check", "clean.py", "--strict")

    assert (result.returncode, strict.returncode) == (0, 0), result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: 2 block(s)"
    assert lines[1].split() == ["LINE", "BLOCK", "BINDS", "READS"]
    assert lines[2].split() == ["5", "'Step1'", "rows", "server"]
    assert lines[3].split() == ["9", 'f"deploy-{host}"', "(dynamic)", "-", "host,", "rows"]
    assert lines[-1] == "no problems found"
    assert result.stderr == ""


def test_each_warning_with_file_line_and_fix_exit_0_or_1_with_strict(psflow, write, row_counts):
    path = write("warned.py", WARNED)

    result = psflow("check", "warned.py")
    strict = psflow("check", "warned.py", "--strict")

    assert (result.returncode, strict.returncode) == (0, 1), result.stdout + result.stderr
    out = result.stdout
    assert f"{path}:6:7: warning: block 'Step1' changes `log` in place, but `log` (open() at line 4)" in out
    assert f"{path}:10:11: warning: block name 'Deploy' is the same on every pass of the loop at line 9" in out
    assert 'fix: give each pass its own name, e.g. block(f"Deploy-{host}")' in out
    assert f"{path}:13:4: warning: this if test uses `pick` (from random.choice() at line 3)" in out
    assert out.count("    fix: ") == 3
    assert out.splitlines()[-1] == "0 error(s), 3 warning(s)"
    _nothing_stored(row_counts)


@pytest.mark.parametrize(
    ("source", "line", "message", "fix"),
    [
        pytest.param(
            'with block("A"):\n    x = 1\nprint(x)\nwith block("A"):\n    y = 2\n', 4,
            "block name 'A' is used twice on one path (first at line 1)", "give each block its own name", id="twice",
        ),
        pytest.param(
            "with block(42):\n    x = 1\n", 1, "block name must be a str, not int", 'name the block with a str',
            id="not-a-str",
        ),
        pytest.param(
            'block "A":\n    def helper():\n        pass\n', 2,
            "a function defined inside a block cannot be saved", "define it before the block", id="def-in-block",
        ),
        pytest.param(
            'def gen():\n    with block("A"):\n        yield 1\n', 3,
            "`yield` inside a block cannot be replayed", "move it out of the block", id="yield",
        ),
    ],
)
def test_each_error_with_file_line_and_fix_exits_2(psflow, write, row_counts, source, line, message, fix):
    path = write("bad.py", source)

    result = psflow("check", "bad.py")
    strict = psflow("check", "bad.py", "--strict")

    assert (result.returncode, strict.returncode) == (2, 2), result.stdout + result.stderr
    assert f"{path}:{line}:" in result.stdout and f": error: {message}" in result.stdout
    assert f"    fix: {fix}" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    _nothing_stored(row_counts)


def test_json_shape(psflow, write):
    path = write("warned.py", WARNED)

    result = psflow("check", "warned.py", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"file", "blocks", "diagnostics"}
    assert report["file"] == str(path)
    assert [block["name"] for block in report["blocks"]] == ["Step1", "Deploy", "Extra"]
    step1 = report["blocks"][0]
    assert set(step1) == {"name", "dynamic", "line", "binds", "reads", "fingerprint"}
    assert (step1["dynamic"], step1["line"], step1["binds"], step1["reads"]) == (False, 6, [], ["log"])
    assert len(step1["fingerprint"]) == 16 and int(step1["fingerprint"], 16) >= 0
    assert [(d["severity"], d["line"], d["column"]) for d in report["diagnostics"]] == [
        ("warning", 6, 7), ("warning", 10, 11), ("warning", 13, 4),
    ]
    assert all(set(d) == {"severity", "line", "column", "message", "fix"} and d["fix"] for d in report["diagnostics"])


def test_json_with_errors_still_lists_the_blocks(psflow, write):
    write("dup.py", 'with block("A"):\n    pass\nwith block(f"B-{1}"):\n    pass\nwith block("A"):\n    pass\n')

    result = psflow("check", "dup.py", "--json")

    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert [(b["name"], b["dynamic"]) for b in report["blocks"]] == [("A", False), ('f"B-{1}"', True), ("A", False)]
    assert [(d["severity"], d["line"]) for d in report["diagnostics"]] == [("error", 5)]


def test_syntax_error_and_missing_script(psflow, write):
    write("broken.py", 'with block("A"):\nx = 1\n')

    broken = psflow("check", "broken.py", "--json")
    missing = psflow("check", "nope.py")

    assert broken.returncode == 2
    [diagnostic] = json.loads(broken.stdout)["diagnostics"]
    assert diagnostic["message"].startswith("syntax error") and diagnostic["line"] == 2
    assert_clean_error(missing, "script not found")


def test_exec_refuses_a_script_with_errors_and_writes_nothing(psflow, write, row_counts, tmp_path):
    path = write("dup.py", 'with block("A"):\n    open("ran", "w").close()\nwith block("A"):\n    pass\n')

    result = psflow("exec", "dup.py")

    assert_clean_error(result, f"{path}:3:12: error: block name 'A' is used twice on one path (first at line 1)")
    assert "fix: give each block its own name" in result.stderr
    assert not (tmp_path / "ran").exists()
    _nothing_stored(row_counts)


def test_exec_prints_warnings_to_stderr_then_runs(psflow, write, jobs):
    path = write("warned.py", WARNED.replace('block "Deploy"', 'block f"Deploy-{host}"'))

    result = psflow("exec", "warned.py")

    assert result.returncode == 0, result.stderr
    assert f"psflow: {path}:6:7: warning: block 'Step1' changes `log` in place" in result.stderr
    assert f"psflow: {path}:13:4: warning: this if test uses `pick`" in result.stderr
    assert "warning: block name 'Deploy'" not in result.stderr
    assert "web01\nweb02\n" in result.stdout  # the warnings go to stderr: the script's stdout stays its own
    assert [job["status"] for job in jobs()] == ["Completed"]
    assert result.stderr.index("warning") < result.stderr.index(f"job {job_id_of(result)}")


def test_warm_exec_prints_the_cached_warnings_without_importing_libcst(psflow, write, tmp_path):
    path = write("warned.py", WARNED.replace('block "Deploy"', 'block f"Deploy-{host}"'))
    cold = psflow("exec", "warned.py")
    assert cold.returncode == 0, cold.stderr
    environment = {key: value for key, value in os.environ.items() if key != "PSFLOW_JOB_ID"}
    environment.update({"PSFLOW_DB": psflow.db_url, "NO_COLOR": "1"})

    warm = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "psflow", "exec", "warned.py"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )

    assert warm.returncode == 0, warm.stderr
    imported = [line.split("|")[-1].strip() for line in warm.stderr.splitlines() if line.startswith("import time:")]
    assert "psflow.transform.sites" in imported  # the report was read back from the cached code …
    assert not [name for name in imported if name.split(".")[0] == "libcst"]  # … without compiling again
    assert f"psflow: {path}:6:7: warning: block 'Step1' changes `log` in place" in warm.stderr
