"""Fixtures for the in-process runtime tests."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from psflow.domain import JobStatus
from psflow.service.results import RunResult
from support.running import resume_one, run

# Before each script: what it may use to say what it saw (`finish(**seen)` writes out.json).
_PRELUDE = """\
import json, weakref

def finish(**seen):
    with open("out.json", "w") as file:
        json.dump(seen, file)
"""


@pytest.fixture
def two_attempts(store, write) -> Callable[..., list[dict]]:
    """two_attempts(source): the script (after a prelude defining `finish(**seen)`) run once, to
    stop Waiting, and resumed once, to complete; what `finish` wrote at each. `.results` holds the
    two RunResults of the last call."""

    def run_twice(source: str) -> list[dict]:
        script = write("flow.py", _PRELUDE + textwrap.dedent(source))
        seen = []
        results: list[RunResult] = [run(store, script)]
        assert results[0].status == JobStatus.WAITING, results[0].error
        seen.append(json.loads(Path("out.json").read_text()))
        results.append(resume_one(store, results[0].job_id))
        assert results[1].status == JobStatus.COMPLETED, results[1].error
        seen.append(json.loads(Path("out.json").read_text()))
        run_twice.results = results  # type: ignore[attr-defined]
        return seen

    return run_twice
