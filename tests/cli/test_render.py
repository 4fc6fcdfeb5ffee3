"""How `psflow jobs` and `psflow job` print (psflow.cli.render) in plain text, as in a pipe: called in
this process with what psflow.service.history gives (capsys)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from psflow.cli.render import print_job, print_jobs, print_json, print_json_array
from psflow.service import history
from psflow.store import Store
from support.running import resume, run, three_jobs
from support.scripts import ORDERED


def test_no_jobs(capsys) -> None:
    print_jobs([])

    assert capsys.readouterr().out == "no jobs\n"


def test_json_printed_as_encoded_is_what_json_dumps_prints(capsys) -> None:
    value = {"blocks": [{"name": f"b{n}", "output": None, "tries": n} for n in range(5000)], "text": "é\n"}

    print_json(value)

    assert capsys.readouterr().out == json.dumps(value, indent=2) + "\n"


def test_a_json_array_printed_item_by_item_is_what_json_dumps_prints(capsys) -> None:
    for items in ([], [{"name": "a", "output": "x\ny"}], [{"nested": {"list": [1, 2], "empty": {}}}, "two", 3]):
        print_json_array(iter(items))

        assert capsys.readouterr().out == json.dumps(items, indent=2) + "\n"


def test_the_job_table_has_one_row_per_job_under_its_columns(store: Store, tmp_path: Path, capsys) -> None:
    three_jobs(store, tmp_path)
    capsys.readouterr()

    print_jobs(history.jobs(store))

    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "SCRIPT", "STATUS", "WAITS", "FOR", "ATTEMPTS", "UPDATED", "HOST"]
    cells = {row.split()[0]: row.split() for row in rows}
    assert list(cells) == ["beta-1", "alpha-2", "alpha-1"]
    assert cells["alpha-1"][1:5] == [str(tmp_path / "done.py"), "Completed", "-", "1"]
    assert cells["beta-1"][1:5] == [str(tmp_path / "wait.py"), "Waiting", "-", "1"]
    # Columns line up: each cell starts where its header does.
    assert all(row.index(cells[row.split()[0]][2]) == header.index("STATUS") for row in rows)


def test_a_job_prints_its_fields_then_its_blocks(store: Store, write, capsys) -> None:
    run(store, write("ordered.py", ORDERED), "ordered", ["arg1"])
    capsys.readouterr()

    print_job(history.job_detail(store, "ordered"))

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "job       ordered"
    assert lines[1].endswith("ordered.py arg1")
    assert lines[2] == "status    Waiting (see you)"
    assert lines[3] == "attempts  1"
    assert "blocks" in lines
    table = lines[lines.index("blocks") + 1 :]
    assert table[0].split() == ["BLOCK", "STATUS", "ATTEMPT", "DURATION", "HOST"]
    assert table[1].split()[:3] == ["b-first", "Completed", "1"]


def test_a_completed_job_found_by_prefix(store: Store, tmp_path: Path, capsys) -> None:
    three_jobs(store, tmp_path)

    print_job(history.job_detail(store, "alpha-1"))

    out = capsys.readouterr().out
    assert "job       alpha-1" in out and "status    Completed" in out


def test_a_job_without_blocks_says_so(store: Store, tmp_path: Path, capsys) -> None:
    three_jobs(store, tmp_path)
    resume(store)

    print_job(history.job_detail(store, "beta-1"))

    assert "no blocks recorded yet" in capsys.readouterr().out.splitlines()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=5), children, max_size=4)
        | st.dictionaries(st.integers(), children, max_size=2)
    ),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_json_printed_is_exactly_what_json_dumps_prints_for_any_value(value) -> None:
    """Flat dicts, nesting, NaN and infinities, non-ASCII and control characters, non-str keys."""
    for printer, expected in ((print_json, value), (print_json_array, [value, value])):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            printer(value) if printer is print_json else printer(iter(expected))
        assert out.getvalue() == json.dumps(expected, indent=2) + "\n"
