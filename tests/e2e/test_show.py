"""`psflow show`: the source psflow runs, as text or as a diff; nothing is run or stored."""

from __future__ import annotations

SCRIPT = """\
import os

server = os.environ.get("SQL_SERVER", "db01")

block "Step1":
    rows = 42 + len(server)

with block("Finish"):
    print(rows)
"""


def test_show_prints_the_rewritten_source(psflow, tmp_path, row_counts):
    (tmp_path / "flow.py").write_text(SCRIPT)

    result = psflow("show", "flow.py")

    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.count(".at(") == 2
    assert 'with block("Step1").at(5, ' in text
    assert 'with block("Finish").at(8, ' in text
    assert 'block "Step1":' not in text
    for statement in ('server = os.environ.get("SQL_SERVER", "db01")', "rows = 42 + len(server)", "print(rows)"):
        assert statement in text
    # What it shows is Python that compiles.
    compile(text, "flow.py", "exec")
    assert (tmp_path / "flow.py").read_text() == SCRIPT
    assert sum(row_counts().values()) == 0


def test_show_diff_is_a_unified_diff(psflow, tmp_path):
    (tmp_path / "flow.py").write_text(SCRIPT)

    result = psflow("show", "flow.py", "--diff")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("--- ") and "flow.py" in lines[0]
    assert lines[1].startswith("+++ ") and "flow.py" in lines[1]
    assert lines[2].startswith("@@ ")
    assert '-block "Step1":' in lines
    assert '-with block("Finish"):' in lines
    assert any(line.startswith('+with block("Step1").at(5, ') for line in lines)
    assert "     rows = 42 + len(server)" in lines  # unchanged lines are context
    assert all(line[:1] in "-+@ " for line in lines)


def test_a_script_without_blocks_is_shown_unchanged(psflow, tmp_path):
    source = "# just a script\nimport sys\n\nprint(sys.argv)  # no blocks here\n"
    (tmp_path / "plain.py").write_text(source)

    shown = psflow("show", "plain.py")
    diff = psflow("show", "plain.py", "--diff")

    assert (shown.returncode, shown.stdout) == (0, source)
    assert (diff.returncode, diff.stdout) == (0, "")
