"""psflow reads a block's names from its function's frame without keeping the function's other
locals alive (issue 12, point 13): an object the script drops after a block is freed when plain
Python frees it, on a first attempt and on a replay, and a `locals()` dict the script holds keeps
what plain Python keeps in it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from psflow.domain import JobStatus
from support.running import resume_one, run

# A job that stops after its blocks on attempt 1 (the runs are then a first attempt and a replay)
# and writes what it saw, at the end, to out.json.
_PRELUDE = """\
import json, weakref

class Thing:
    pass

class Boom(Exception):  # unlike ValueError, a class of the script's own can be referred to weakly
    pass

def finish(**seen):
    with open("out.json", "w") as file:
        json.dump(seen, file)
"""


@pytest.fixture
def attempts(store, write):
    """attempts(source): the script run once and resumed once; what it wrote at each of them."""

    def run_twice(source: str) -> list[dict]:
        script = write("scope.py", _PRELUDE + textwrap.dedent(source))
        seen = []
        first = run(store, script)
        seen.append(json.loads(Path("out.json").read_text()))
        assert first.status == JobStatus.WAITING, first.error
        second = resume_one(store, first.job_id)
        assert second.status == JobStatus.COMPLETED, second.error
        seen.append(json.loads(Path("out.json").read_text()))
        return seen

    return run_twice


def test_a_local_dropped_after_a_block_is_freed_at_once(attempts) -> None:
    seen = attempts(
        """
        def main():
            thing = Thing()
            alive = weakref.ref(thing)
            with block("Step"):
                total = 6
            del thing  # plain Python frees it here: psflow's read of the frame must not hold it
            freed = alive() is None
            finish(freed=freed, total=total)
            if job.attempt == 1:
                stop("Waiting")

        main()
        """
    )
    assert seen == [{"freed": True, "total": 6}] * 2


def test_an_exception_caught_in_a_block_is_not_kept_with_its_traceback(attempts) -> None:
    seen = attempts(
        """
        def main():
            try:
                raise Boom("boom")
            except Boom as error:
                caught = weakref.ref(error)
                kept = error
            with block("Step"):
                message = str(kept)
            del kept
            finish(freed=caught() is None, message=message)
            if job.attempt == 1:
                stop("Waiting")

        main()
        """
    )
    assert seen == [{"freed": True, "message": "boom"}] * 2


def test_a_locals_dict_the_script_holds_keeps_its_values(attempts) -> None:
    """The script's own `locals()` is the frame's copy too (before Python 3.13): psflow leaves it filled."""
    seen = attempts(
        """
        def main():
            name = "alice"
            mine = locals()
            with block("Step"):
                greeting = "hello " + name
            finish(greeting=greeting, held=mine["name"])
            if job.attempt == 1:
                stop("Waiting")

        main()
        """
    )
    assert seen == [{"greeting": "hello alice", "held": "alice"}] * 2


def test_a_block_in_a_function_changing_an_outer_list_still_replays_its_change(attempts) -> None:
    seen = attempts(
        """
        def main():
            rows = []
            with block("Step"):
                rows.append(1)
            finish(rows=rows)
            if job.attempt == 1:
                stop("Waiting")

        main()
        """
    )
    assert seen == [{"rows": [1]}] * 2
