"""Interrupting a job after any step and resuming it gives what one straight run gives.

Generated scripts mix module-level blocks, blocks in functions and loops with
dynamic names, `break`/`continue`/`return` inside blocks (retried or not), nested
blocks, blocks that fail a try and are retried, and mutation of outer lists. A run is interrupted after a random step — by
`stop()`, by an exception, or by `os._exit` killing the process — and resumed.
Final variables and the ordered log of side effects must equal those of a
straight run: every block body's side effects happen exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psflow import api
from support.cli import PSFLOW

pytestmark = pytest.mark.e2e  # runs and kills the real `psflow` command

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)

PRELUDE = """\
import json, os, sys
log, out, stop_at, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def effect(name):
    with open(log, 'a') as file:
        file.write(name + '\\n')
def interrupt(point):
    if job.attempt == 1 and point == stop_at:
        if mode == 'stop':
            stop('Waiting')
        if mode == 'raise':
            raise RuntimeError('interrupted')
        if mode == 'exit':
            os._exit(17)
results = []
flaky = {}
"""

EPILOGUE = """\
state = {k: v for k, v in globals().items() if k[:1] in 'vwr' and k[1:].isdigit() or k == 'results'}
with open(out, 'w') as file:
    json.dump(state, file, sort_keys=True)
"""


@st.composite
def scripts(draw) -> tuple[str, int]:
    """A script of random steps, each followed by an interruption point; and which point fires."""
    lines = [PRELUDE]
    steps = draw(st.integers(min_value=1, max_value=5))
    for step in range(steps):
        kind = draw(st.sampled_from(["assign", "function", "nested", "branch", "retried"]))
        if kind == "assign":
            lines += [
                f'with block("b{step}"):',
                f"    v{step} = {draw(json_values)!r}",
                f"    results.append({step})",
                f"    effect('b{step}')",
            ]
        elif kind == "function":
            brk, cont, ret = (draw(st.integers(0, 5)) for _ in range(3))
            options = draw(st.sampled_from(["", ", retries=1"]))  # break/continue/return out of a retry loop
            lines += [
                f"def f{step}(items):",
                "    collected = []",
                "    for item in items:",
                f'        with block(f"f{step}-{{item}}"{options}):',
                f"            effect(f'f{step}-{{item}}')",
                f"            if item == {brk}:",
                "                break",
                f"            if item == {cont}:",
                "                continue",
                "            collected.append(item * 2)",
                f"            if item == {ret}:",
                "                return collected + ['returned']",
                "    return collected",
                f"r{step} = f{step}([0, 1, 2, 3, 4])",
            ]
        elif kind == "nested":
            lines += [
                f'with block("outer{step}"):',
                f"    effect('outer{step} start')",
                f'    with block("inner{step}"):',
                f"        w{step} = {draw(json_values)!r}",
                f"        effect('inner{step}')",
                f"    results.append('outer{step}')",
            ]
        elif kind == "retried":  # fails its first try in whichever attempt runs it
            lines += [
                f'with block("r{step}", retries=2):',
                f"    flaky[{step}] = flaky.get({step}, 0) + 1",
                f"    v{step} = {draw(json_values)!r}",
                f"    if flaky[{step}] == 1:",
                f"        effect('r{step} failed try')",
                "        raise ConnectionError('flaky')",
                f"    results.append('r{step}')",
                f"    effect('r{step}')",
            ]
        else:
            earlier = list(range(step))
            test = f"len(results) > {draw(st.integers(0, 3))}" if earlier else "True"
            lines += [
                f"if {test}:",
                f'    with block("then{step}"):',
                f"        v{step} = 'then'",
                f"        effect('then{step}')",
                "else:",
                f'    with block("else{step}"):',
                f"        v{step} = 'else'",
                f"        effect('else{step}')",
            ]
        lines.append(f"interrupt({step})")
    lines.append(EPILOGUE)
    return "\n".join(lines), draw(st.integers(min_value=0, max_value=steps - 1))


def _outcome(folder: Path, suffix: str) -> tuple[dict, list[str]]:
    state = json.loads((folder / f"out{suffix}").read_text())
    log = (folder / f"log{suffix}").read_text().splitlines() if (folder / f"log{suffix}").exists() else []
    return state, log


@contextmanager
def _straight_run(source: str) -> Iterator[tuple[Path, Path, str, tuple[dict, list[str]]]]:
    """(folder, script, database URL, outcome of one uninterrupted run), in a folder removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script = folder / "flow.py"
        script.write_text(source)
        db = f"sqlite:///{folder / 'psflow.sqlite'}"
        straight = api.run(script, [str(folder / "log1"), str(folder / "out1"), "-1", "none"], db=db)
        assert straight.status == "Completed"
        yield folder, script, db, _outcome(folder, "1")


@given(scripts(), st.sampled_from(["stop", "raise"]))
def test_interrupt_and_resume_equals_straight_run(case: tuple[str, int], mode: str) -> None:
    source, stop_at = case
    with _straight_run(source) as (folder, script, db, expected):
        first = api.run(script, [str(folder / "log2"), str(folder / "out2"), str(stop_at), mode], db=db)
        assert first.status == ("Waiting" if mode == "stop" else "Failed")
        (resumed,) = api.resume(job_ids=[first.job_id], db=db)
        assert resumed.status == "Completed"

        state, log = _outcome(folder, "2")
        assert (state, log) == expected  # same values; same side effects, in order, each once


@settings(max_examples=4)
@given(scripts())
def test_killed_process_then_lease_expiry_and_resume_equals_straight_run(case: tuple[str, int]) -> None:
    source, stop_at = case
    with _straight_run(source) as (folder, script, db, expected):
        env = {**os.environ, "PSFLOW_DB": db, "PSFLOW_LEASE_SECONDS": "1"}
        env.pop("PSFLOW_JOB_ID", None)
        args = [str(folder / "log2"), str(folder / "out2"), str(stop_at), "exit"]
        killed = subprocess.run(
            [PSFLOW, "exec", str(script), *args, "--job", "victim"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert killed.returncode == 17
        time.sleep(1.2)  # the dead runner's lease runs out
        resumed = subprocess.run(
            [PSFLOW, "resume", "--status", "Running"], env=env, capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr

        state, log = _outcome(folder, "2")
        assert (state, log) == expected
