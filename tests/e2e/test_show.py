"""`psflow show` through the real command: it prints the source psflow runs (or the diff) as it is, on
stdout, and stores nothing. What that source is, is tested in-process in tests/service/test_preflight.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from psflow.service.preflight import transformed_source

SCRIPT = """\
import os

server = os.environ.get("SQL_SERVER", "db01")

block "Step1":
    rows = 42 + len(server)

with block("Finish"):
    print(rows)
"""


def test_show_prints_the_rewritten_source_or_its_diff_and_stores_nothing(
    psflow, tmp_path: Path, row_counts, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "flow.py").write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)

    shown = psflow("show", "flow.py")
    diff = psflow("show", "flow.py", "--diff")

    assert (shown.returncode, shown.stderr) == (0, "")
    assert shown.stdout == transformed_source(Path("flow.py"))
    assert 'with block("Step1").at(5, ' in shown.stdout
    assert (diff.returncode, diff.stderr) == (0, "")
    assert diff.stdout == transformed_source(Path("flow.py"), diff=True)
    assert diff.stdout.startswith("--- flow.py\n+++ flow.py (as run)\n@@ ")
    assert (tmp_path / "flow.py").read_text() == SCRIPT
    assert sum(row_counts().values()) == 0
