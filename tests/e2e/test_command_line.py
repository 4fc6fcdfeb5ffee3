"""The `psflow` command itself: --version, a reader that stops reading, and script arguments that
look like a mistyped psflow option."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

import psflow as package
from support.cli import PSFLOW, environment, job_id_of

ROOT = Path(__file__).parents[2]


def test_version(psflow):
    result = psflow("--version")

    assert (result.returncode, result.stdout) == (0, f"psflow {package.__version__}\n")
    assert package.__version__ == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# ---- a closed pipe is not an error ----------------------------------------------------------


@pytest.fixture
def long_job(psflow, write) -> str:
    """A completed job with a lot of output (more than a pipe holds); its id."""
    write("long.py", 'with block("Long"):\n    for i in range(20000):\n        print("line", i)\n')
    result = psflow("exec", "long.py")
    assert result.returncode == 0, result.stderr
    return job_id_of(result)


@pytest.mark.parametrize(
    "command",
    [("jobs",), ("jobs", "--json"), ("job", "{id}"), ("logs", "{id}"), ("show", "long.py"), ("config",)],
    ids=lambda c: "-".join(c).replace("{id}", "ID"),
)
def test_a_reader_that_goes_away_at_once_is_not_an_error(psflow, tmp_path, long_job, command):
    process = subprocess.Popen(
        [PSFLOW, *(part.format(id=long_job) for part in command)],
        cwd=tmp_path,
        env=environment(psflow.db_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # before psflow has started: its first write finds no reader

    stderr = process.stderr.read().decode()

    assert (process.wait(timeout=60), stderr) == (0, "")


def test_head_reads_one_line_of_a_long_transcript(psflow, tmp_path, long_job):
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"'{PSFLOW}' logs {long_job} | head -1"],
        cwd=tmp_path,
        env=environment(psflow.db_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("==> Long (attempt 1, Completed")


# ---- options after SCRIPT belong to the script; near misses are named -----------------------


def test_a_mistyped_psflow_option_is_named_and_still_given_to_the_script(psflow, write):
    write("args.py", "import sys\nprint(sys.argv[1:])\n")

    result = psflow(
        "exec", "args.py", "--jobs", "nightly", "--rerun-chaged", "--replay-ouptut=yes", "--db-host=x", "-v"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "['--jobs', 'nightly', '--rerun-chaged', '--replay-ouptut=yes', '--db-host=x', '-v']\n"
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "psflow: warning: --jobs is not a `psflow exec` option (did you mean --job?); it goes to the script",
        "psflow: warning: --rerun-chaged is not a `psflow exec` option (did you mean --rerun-changed?); it goes to the script",
        "psflow: warning: --replay-ouptut is not a `psflow exec` option (did you mean --replay-output?); it goes to the script",
    ]


def test_after_a_double_dash_psflows_own_options_go_to_the_script_quietly(psflow, write):
    write("args.py", "import sys\nprint(sys.argv[1:])\n")

    result = psflow("exec", "args.py", "--job", "mine", "--", "--job", "theirs", "--db", "x")

    assert (result.returncode, result.stdout) == (0, "['--job', 'theirs', '--db', 'x']\n")
    assert "warning" not in result.stderr and "job mine: Completed" in result.stderr
