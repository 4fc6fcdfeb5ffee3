"""psflow reads a block's names from its function's frame without keeping the function's other
locals alive (issue 12, point 13): an object the script drops after a block is freed when plain
Python frees it, on a first attempt and on a replay, and a `locals()` dict the script holds keeps
what plain Python keeps in it."""

from __future__ import annotations

import textwrap

import pytest

# The script's own classes: a plain instance, and an exception class (ValueError cannot be
# referred to weakly, an exception class of the script's own can).
_CLASSES = """
class Thing:
    pass

class Boom(Exception):
    pass
"""


@pytest.fixture
def attempts(two_attempts):
    return lambda source: two_attempts(_CLASSES + textwrap.dedent(source))


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
