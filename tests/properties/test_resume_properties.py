"""Stopping after any block and resuming gives what one straight run gives, and no block runs twice."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from psflow import api

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@st.composite
def scripts(draw) -> tuple[str, int]:
    """A script of blocks binding random values (some derived from earlier ones), and where to stop."""
    count = draw(st.integers(min_value=1, max_value=6))
    lines = [
        "import json, sys",
        "log, out, stop_after = sys.argv[1], sys.argv[2], int(sys.argv[3])",
        "def effect(name):",
        "    with open(log, 'a') as file:",
        "        file.write(name + '\\n')",
        "acc = []",
    ]
    for index in range(count):
        lines.append(f'with block("b{index}"):')
        lines.append(f"    v{index} = {draw(json_values)!r}")
        if index and draw(st.booleans()):
            lines.append(f"    w{index} = [v{draw(st.integers(0, index - 1))}, {index}]")
        lines.append(f"    acc = acc + [{index}]")
        lines.append(f"    effect('b{index}')")
        lines.append(f"if job.attempt == 1 and stop_after == {index}:")
        lines.append("    stop('Waiting')")
    lines.append("state = {k: v for k, v in globals().items() if k[0] in 'vwa' and k[1:].isdigit() or k == 'acc'}")
    lines.append("with open(out, 'w') as file:")
    lines.append("    json.dump(state, file, sort_keys=True)")
    return "\n".join(lines) + "\n", draw(st.integers(min_value=0, max_value=count - 1))


@given(scripts())
def test_stop_and_resume_equals_straight_run(case: tuple[str, int]) -> None:
    source, stop_after = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script = folder / "flow.py"
        script.write_text(source)
        db = f"sqlite:///{folder / 'psflow.sqlite'}"

        straight = api.run(script, [str(folder / "log1"), str(folder / "out1"), "-1"], db=db)
        assert straight.status == "Completed"

        stopped = api.run(script, [str(folder / "log2"), str(folder / "out2"), str(stop_after)], db=db)
        assert stopped.status == "Waiting"
        (resumed,) = api.resume(job_ids=[stopped.job_id], db=db)
        assert resumed.status == "Completed"
        assert resumed.replayed == stop_after + 1

        assert json.loads((folder / "out2").read_text()) == json.loads((folder / "out1").read_text())
        log1 = (folder / "log1").read_text().splitlines()
        log2 = (folder / "log2").read_text().splitlines()
        assert log2 == log1  # same side effects, in the same order, each exactly once
        assert len(set(log2)) == len(log2)
