"""Execution equivalence on real code nobody here wrote: the standard library's doctest sessions,
each example in a block (doctest_sessions.py), run by plain Python, by `psflow exec` (a first
attempt, stopped Waiting after the blocks) and by `psflow resume` (a replay of every block).

The state the script prints after its blocks must be the same in all three, unless psflow said at
the first attempt that it could not save the name that differs (or that the replay then fails on):
a replay may lose a value, but never silently. The replay runs no block body again. A session plain Python cannot run here, or
runs differently twice, is skipped with the reason. CI runs a fixed sample; PSFLOW_EQUIVALENCE=all
runs every session (`-rs` lists the skipped ones and why).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from doctest_sessions import STATE, Session, stdlib_sessions

from support import cli

SAMPLE_SIZE = 24
_PLAIN = {"PYTHONHASHSEED": "0"}  # the same set and dict orders in every run


def _sessions() -> list[Session]:
    sessions = stdlib_sessions()
    if os.environ.get("PSFLOW_EQUIVALENCE") == "all":
        return sessions
    return random.Random(20261204).sample(sessions, min(SAMPLE_SIZE, len(sessions)))


def _state(output: str) -> dict[str, str]:
    """The names the script printed after its blocks, each with its repr."""
    assert STATE in output, output
    lines = output.split(STATE + "\n", 1)[1].splitlines()
    return dict(line.split(" = ", 1) for line in lines)


def _plain_state(folder: Path) -> dict[str, str]:
    runs = [
        subprocess.run(
            [sys.executable, "session.py"],
            cwd=folder,
            env={**os.environ, **_PLAIN},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    if runs[0].returncode != 0 or STATE not in runs[0].stdout:
        last = (runs[0].stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"plain Python cannot run it here: {last}")
    states = [_state(run.stdout) for run in runs]
    if states[0] != states[1]:
        pytest.skip("plain Python computes it differently each run")
    return states[0]


@pytest.mark.parametrize("session", _sessions(), ids=lambda session: session.where)
def test_a_first_attempt_and_a_replay_end_in_plain_python_s_state(session: Session, tmp_path: Path) -> None:
    (tmp_path / "session.py").write_text(session.script(), encoding="utf-8")
    go = tmp_path / "go"
    go.touch()
    plain = _plain_state(tmp_path)
    go.unlink()
    db_url = f"sqlite:///{tmp_path / 'psflow.sqlite'}"
    first = cli.run(db_url, tmp_path, "exec", "session.py", env=_PLAIN)
    assert first.returncode == 3, first.stderr  # Waiting at the gate after the blocks
    go.touch()
    replay = cli.run(db_url, tmp_path, "resume", env=_PLAIN)
    assert re.search(r"attempt 2, 0 block\(s\) ran, \d+ replayed", replay.stderr), replay.stderr
    unsaved = set(re.findall(r"cannot save '([^']+)'", first.stderr))
    if replay.returncode != 0:  # only as the first attempt warned: a name it could not save is missing
        [failure] = re.findall(r"job \w+: Failed \((.*)\) — attempt 2", replay.stderr)
        assert any(re.search(rf"\b{re.escape(name)}\b", failure) for name in unsaved), replay.stderr
        return
    for attempt, output in (("first attempt", first.stdout), ("replay", replay.stdout)):
        state = _state(output)
        differ = {name for name in plain.keys() | state.keys() if plain.get(name) != state.get(name)}
        silent = differ - unsaved
        assert not silent, f"{attempt}: {sorted(silent)} differ from plain Python without a warning\n" + "\n".join(
            f"{name}: plain {plain.get(name)} / psflow {state.get(name)}" for name in sorted(silent)
        )
