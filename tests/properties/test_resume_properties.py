"""Interrupting a job after any step and resuming it gives what one straight run gives.

Generated scripts mix module-level blocks, blocks in functions and loops with
dynamic names, `break`/`continue`/`return` inside blocks (retried or not), nested
blocks, blocks that fail a try and are retried, mutation of outer lists, names
bound to outer objects (aliases, loop variables), attributes of the script's own
objects changed directly and by methods, changes made by a function the block
calls, `@block` calls inside a block, and a block in an Enum's body. A run is interrupted after a random step — by
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
import enum, json, os, sys
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
state = {k: v for k, v in globals().items() if k[:1] in 'vwrao' and k[1:].isdigit() or k == 'results'}
with open(out, 'w') as file:
    json.dump(state, file, sort_keys=True)
"""


def _assign(draw, step: int) -> list[str]:
    return [
        f'with block("b{step}"):',
        f"    v{step} = {draw(json_values)!r}",
        f"    results.append({step})",
        f"    effect('b{step}')",
    ]


def _function(draw, step: int) -> list[str]:
    brk, cont, ret = (draw(st.integers(0, 5)) for _ in range(3))
    options = draw(st.sampled_from(["", ", retries=1"]))  # break/continue/return out of a retry loop
    return [
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


def _nested(draw, step: int) -> list[str]:
    return [
        f'with block("outer{step}"):',
        f"    effect('outer{step} start')",
        f'    with block("inner{step}"):',
        f"        w{step} = {draw(json_values)!r}",
        f"        effect('inner{step}')",
        f"    results.append('outer{step}')",
    ]


def _retried(draw, step: int) -> list[str]:  # fails its first try in whichever attempt runs it
    return [
        f'with block("r{step}", retries=2):',
        f"    flaky[{step}] = flaky.get({step}, 0) + 1",
        f"    v{step} = {draw(json_values)!r}",
        f"    if flaky[{step}] == 1:",
        f"        effect('r{step} failed try')",
        "        raise ConnectionError('flaky')",
        f"    results.append('r{step}')",
        f"    effect('r{step}')",
    ]


def _branch(draw, step: int) -> list[str]:
    test = f"len(results) > {draw(st.integers(0, 3))}" if step else "True"
    return [
        f"if {test}:",
        f'    with block("then{step}"):',
        f"        v{step} = 'then'",
        f"        effect('then{step}')",
        "else:",
        f'    with block("else{step}"):',
        f"        v{step} = 'else'",
        f"        effect('else{step}')",
    ]


def _alias(draw, step: int) -> list[str]:
    """Names bound in a block to outer objects, used after it: they must still be those objects."""
    return [
        f"rows{step} = [{{'n': 0}}, {{'n': 1}}]",
        f'with block("alias{step}"):',
        f"    a{step} = results",
        f"    a{step}.append('alias{step}')",
        f"    for row in rows{step}:",
        f"        row['seen'] = {draw(json_values)!r}",
        f"    effect('alias{step}')",
        "row['after'] = True",
        f"a{step}.append('after{step}')",
        f"o{step} = rows{step}",
    ]


def _attributes(draw, step: int) -> list[str]:
    """An object of the script's own changed through attributes and a method that changes `self`."""
    return [
        f"class Box{step}:",
        "    def __init__(self):",
        "        self.items = []",
        "    def add(self, item):",
        "        self.items.append(item)",
        f"box{step} = Box{step}()",
        f'with block("attrs{step}"):',
        f"    box{step}.value = {draw(json_values)!r}",
        f"    box{step}.add({step})",
        f"    effect('attrs{step}')",
        f"o{step} = vars(box{step})",
    ]


def _call(draw, step: int) -> list[str]:
    """Changes made by a function the block gives an outer object to."""
    return [
        f"def push{step}(target, item):",
        "    target.append(item)",
        f'with block("call{step}"):',
        f"    push{step}(results, {draw(json_values)!r})",
        f"    effect('call{step}')",
    ]


def _block_calls(draw, step: int) -> list[str]:
    """@block calls inside a block: skipped on its replay, they must not shift the keys of later calls."""
    first, second = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    return [
        f'@block("D{step}")',
        f"def double{step}(x):",
        f"    effect(f'D{step}-{{x}}')",
        "    return x * 2",
        f'with block("calls{step}"):',
        f"    v{step} = double{step}({first})",
        f"    effect('calls{step}')",
        f"w{step} = double{step}({second} + 10)",
    ]


def _enum_body(draw, step: int) -> list[str]:
    """A block in the body of a class whose metaclass inspects the namespace (Enum)."""
    return [
        f"class Color{step}(enum.Enum):",
        "    RED = 1",
        f'    with block("enum{step}"):',
        f"        GREEN = {draw(st.integers(2, 9))}",
        f"        effect('enum{step}')",
        f"o{step} = [[member.name, member.value] for member in Color{step}]",
    ]


STEPS = {
    "assign": _assign,
    "function": _function,
    "nested": _nested,
    "branch": _branch,
    "retried": _retried,
    "alias": _alias,
    "attributes": _attributes,
    "call": _call,
    "block_calls": _block_calls,
    "enum_body": _enum_body,
}


@st.composite
def scripts(draw) -> tuple[str, int]:
    """A script of random steps, each followed by an interruption point; and which point fires."""
    lines = [PRELUDE]
    steps = draw(st.integers(min_value=1, max_value=5))
    for step in range(steps):
        lines += STEPS[draw(st.sampled_from(sorted(STEPS)))](draw, step)
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
