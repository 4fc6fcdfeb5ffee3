"""The README's Python API example runs as written, in a folder of its own, with a stub
`jobs/nightly.py`: it is documentation, so it is a test (as typer tests its docs' examples)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"
NIGHTLY = 'approver = wait_for("approval")\nprint("approved by", approver)\n'


def python_api_example() -> str:
    """The first ```python block under `## Python API`."""
    section = README.read_text().split("\n## Python API\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_python_api_example_runs_as_written(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "nightly.py").write_text(NIGHTLY)
    (tmp_path / "jobs" / "deploy_one.py").write_text("import sys\nprint('deploying', sys.argv[1])\n")
    (tmp_path / "example.py").write_text(python_api_example())
    environment = {key: value for key, value in os.environ.items() if key not in ("PSFLOW_DB", "PSFLOW_JOB_ID")}
    environment.update({"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")})

    result = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "nightly-2026-11-27 Completed" in result.stdout and "approved by alice" in result.stdout
    assert (tmp_path / "psflow.sqlite").is_file()
    assert not (tmp_path / "data").exists()  # every call used the database it named, none the default
