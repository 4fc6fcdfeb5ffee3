"""Values through the real database and back on replay, on every backend: file names that are not
UTF-8, objects bound to several names, dataclasses with InitVar, __post_init__ and slots; and a
forged input that `job_detail` shows without importing what it names."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from psflow import api
from psflow.store import open_store
from support.running import resume_here


@pytest.fixture
def replayed(tmp_path: Path, db_url: str):
    """Run a script until it stops (attempt 1), resume it (attempt 2); what it wrote with `finish`."""

    def run(source: str) -> dict[str, object]:
        script = tmp_path / "flow.py"
        prelude = "import json, sys\ndef finish(**state):\n    json.dump(state, open(sys.argv[1], 'w'))\n"
        script.write_text(prelude + textwrap.dedent(source))
        out = tmp_path / "out.json"
        first = api.run(script, [str(out)], db=db_url)
        assert first.status == "Waiting", first
        [second] = resume_here(db_url, first.job_id)
        assert (second.status, second.replayed) == ("Completed", 1), second
        return json.loads(out.read_text())  # type: ignore[no-any-return]

    return run


def test_a_file_name_that_is_not_utf8_survives_the_database(replayed, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb"):  # os.listdir gives "caf\udce9.txt"
        pass
    state = replayed(
        f"""
        import os
        with block("List"):
            names = os.listdir({str(folder)!r})
            by_name = {{name: len(name) for name in names}}
        if job.attempt == 1:
            stop("Waiting")
        finish(names=[ascii(n) for n in names], keys=[ascii(k) for k in by_name], found=os.path.exists(os.path.join({str(folder)!r}, names[0])))
        """
    )
    assert state == {"names": ["'caf\\udce9.txt'"], "keys": ["'caf\\udce9.txt'"], "found": True}


def test_objects_bound_to_several_names_are_one_object_on_replay(replayed) -> None:
    state = replayed(
        """
        with block("Build"):
            x = y = []
            row = {"id": 1}
            table = [row, row]
        if job.attempt == 1:
            stop("Waiting")
        x.append(1)
        table[0]["id"] = 2
        finish(y=y, same=x is y, table=table, rows_same=table[0] is table[1] is row)
        """
    )
    assert state == {"y": [1], "same": True, "table": [{"id": 2}, {"id": 2}], "rows_same": True}


def test_dataclasses_come_back_without_running_their_code(replayed) -> None:
    state = replayed(
        """
        import dataclasses
        RUNS = []

        @dataclasses.dataclass
        class Scaled:
            value: int
            factor: dataclasses.InitVar[int] = 10
            def __post_init__(self, factor):
                RUNS.append(self.value)
                self.value *= factor

        @dataclasses.dataclass(slots=True, frozen=True)
        class Fixed:
            a: int
            b: tuple = ()

        with block("Make"):
            scaled = Scaled(2)
            fixed = Fixed(1, (2,))
        if job.attempt == 1:
            stop("Waiting")
        finish(value=scaled.value, runs=RUNS, fixed=[fixed.a, list(fixed.b)], same_class=type(fixed) is Fixed)
        """
    )
    assert state == {"value": 20, "runs": [], "fixed": [1, [2]], "same_class": True}


def test_a_forged_input_is_shown_as_data_and_never_imported(tmp_path: Path, db_url: str) -> None:
    marker = tmp_path / "imported.txt"
    (tmp_path / "psflow_forged.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    script = tmp_path / "flow.py"
    script.write_text("print(wait_for('go'))\n")
    waiting = api.run(script, db=db_url)
    forged = {"$t": "dataclass", "v": ["psflow_forged", "Point", {"x": 1}]}
    with open_store(db_url) as store:
        store.add_inputs([waiting.job_id], {"go": json.dumps(forged), "raw": "not json"}, host="h", user="u")
    sys.path.insert(0, str(tmp_path))
    try:
        shown = {sent["name"]: sent["value"] for sent in api.job_detail(waiting.job_id, db=db_url)["inputs"]}
    finally:
        sys.path.remove(str(tmp_path))
    assert shown == {"go": {"__dataclass__": "psflow_forged.Point", "x": 1}, "raw": "not json"}
    assert not marker.exists() and "psflow_forged" not in sys.modules
