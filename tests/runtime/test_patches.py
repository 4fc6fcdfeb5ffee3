"""A block's changes to objects it did not bind are redone on replay as a patch, on the object
there now (issue 12, points 1-4): each script computes something differently on its two attempts
where that matters, and must end both exactly as plain Python would."""

from __future__ import annotations

import textwrap

import pytest

from psflow import codec
from support.database import forge
from support.running import resume_one, run

# Stops Waiting at the end of attempt 1: the second attempt replays every block.
_GATE = """
if job.attempt == 1:
    stop("Waiting")
"""


@pytest.fixture
def flow(two_attempts):
    """flow(source): what the script saw on its first attempt and on its replay (two_attempts)."""
    return lambda source: two_attempts(textwrap.dedent(source) + _GATE)


def test_a_replay_keeps_what_this_attempt_computed_before_the_block(flow) -> None:
    """Point 1: the first attempt's copy of `settings` must not overwrite this attempt's."""
    seen = flow(
        """
        settings = {"source": "edited" if job.attempt == 2 else "original"}
        with block("Defaults"):
            settings.setdefault("retries", 3)
        finish(settings=settings)
        """
    )
    assert seen == [
        {"settings": {"source": "original", "retries": 3}},
        {"settings": {"source": "edited", "retries": 3}},
    ]


def test_a_block_that_only_reads_an_object_changes_nothing_on_replay(flow) -> None:
    seen = flow(
        """
        rows = list(range(job.attempt * 2))
        with block("Count"):
            counted = len(rows)
            print(rows)
        finish(rows=rows, counted=counted)
        """
    )
    assert seen == [{"rows": [0, 1], "counted": 2}, {"rows": [0, 1, 2, 3], "counted": 2}]


def test_attributes_of_any_object_are_redone(flow) -> None:
    """Point 2: plain instances, methods changing `self`, class attributes, `del`, property
    setters, slots, and a list reached through a tuple."""
    seen = flow(
        """
        class Box:
            pass

        class Counter:
            def __init__(self):
                self.n, self.items = 0, []

            def bump(self):
                with block("Bump"):
                    self.n += 1
                    self.items.append(self.n)

        class Config:
            debug = False

        class Temperature:
            def __init__(self):
                self._celsius = 0

            @property
            def celsius(self):
                return self._celsius

            @celsius.setter
            def celsius(self, value):
                self._celsius = value

        class Point:
            __slots__ = ("x", "y")

        box, counter, temperature, point, pair = Box(), Counter(), Temperature(), Point(), ([], "fixed")
        gone = Box()
        gone.a, gone.b = 1, 2
        point.x = 1
        with block("Change"):
            box.value = 1
            Config.debug = True
            del gone.a
            temperature.celsius = 21
            point.y = 2
            pair[0].append("x")
        counter.bump()
        finish(
            box=vars(box), debug=Config.debug, gone=vars(gone), celsius=temperature.celsius,
            point=[point.x, point.y], pair=list(pair), counter=[counter.n, counter.items],
        )
        """
    )
    expected = {
        "box": {"value": 1},
        "debug": True,
        "gone": {"b": 2},
        "celsius": 21,
        "point": [1, 2],
        "pair": [["x"], "fixed"],
        "counter": [1, [1]],
    }
    assert seen == [expected, expected]


def test_a_block_function_s_changes_to_what_it_is_given_are_redone(flow) -> None:
    """Point 2 in `@block` methods: a replayed call changes `self` and its arguments as the call did."""
    seen = flow(
        """
        class Account:
            def __init__(self):
                self.balance, self.history = 0, []

            @block("Deposit")
            def deposit(self, amount, log):
                self.balance += amount
                self.history.append(amount)
                log.append(f"deposited {amount}")
                return self.balance

        account, log = Account(), []
        total = account.deposit(5, log)
        finish(balance=account.balance, history=account.history, log=log, total=total)
        """
    )
    expected = {"balance": 5, "history": [5], "log": ["deposited 5"], "total": 5}
    assert seen == [expected, expected]


def test_changes_made_by_a_function_the_block_calls_are_redone(flow) -> None:
    """Point 4: what a call is given it may change."""
    seen = flow(
        """
        import bisect, heapq, random

        def add(sequence, item):
            sequence.append(item)

        results, heap, deck, ordered = [], [5, 1, 8], list(range(8)), [1, 3, 5]
        heapq.heapify(heap)
        with block("Calls"):
            add(results, 1)
            heapq.heappush(heap, 0)
            random.Random(7).shuffle(deck)
            bisect.insort(ordered, 4)
        finish(results=results, heap=heap, deck=deck, ordered=ordered)
        """
    )
    assert seen[0] == seen[1]
    assert seen[1]["results"] == [1] and seen[1]["heap"][0] == 0 and seen[1]["ordered"] == [1, 3, 4, 5]
    assert sorted(seen[1]["deck"]) == list(range(8)) and seen[1]["deck"] != list(range(8))


def test_a_change_inside_a_nested_object_keeps_its_other_names(flow) -> None:
    """Point 3: the inner list is changed in place, so a name that shares it sees the change."""
    seen = flow(
        """
        inner = [0]
        outer = {"k": inner, "n": 1}
        with block("Nested"):
            outer["k"].append(1)
            outer["n"] += 1
        finish(inner=inner, shared=inner is outer["k"], n=outer["n"])
        """
    )
    assert seen == [{"inner": [0, 1], "shared": True, "n": 2}] * 2


def test_a_name_bound_to_an_outer_object_is_that_object_again(flow) -> None:
    """Point 3: `x = outer`, a loop variable, and a name for a nested object stay aliases on replay,
    so what the script does through them after the block reaches the outer objects."""
    seen = flow(
        """
        outer, rows, tree = [1], [{"id": 1}, {"id": 2}], {"left": {"v": 1}}
        with block("Alias"):
            x = outer
            x.append(2)
            for row in rows:
                row["done"] = True
            node = tree["left"]
            node["v"] = 2
            y = z = []
        x.append(3)
        row["last"] = True
        node["w"] = 3
        y.append(1)
        finish(same=[x is outer, node is tree["left"], y is z], outer=outer, rows=rows, tree=tree, z=z)
        """
    )
    expected = {
        "same": [True, True, True],
        "outer": [1, 2, 3],
        "rows": [{"id": 1, "done": True}, {"id": 2, "done": True, "last": True}],
        "tree": {"left": {"v": 2, "w": 3}},
        "z": [1],
    }
    assert seen == [expected, expected]


def test_a_name_whose_object_is_not_there_on_replay_gets_a_copy_and_a_warning(flow, capsys) -> None:
    seen = flow(
        """
        tree = {"left": {"v": 1}} if job.attempt == 1 else {}
        with block("Alias"):
            node = tree["left"]
        finish(node=node, kept=node is tree.get("left"))
        """
    )
    assert seen == [{"node": {"v": 1}, "kept": True}, {"node": {"v": 1}, "kept": False}]
    assert "'node' is given back as a copy: the object it named (tree['left']) is not there now" in (
        capsys.readouterr().err
    )


def test_what_cannot_be_redone_is_told_not_guessed(flow, capsys: pytest.CaptureFixture[str]) -> None:
    """A list the block reordered has another length on replay: the change is left out, with a warning."""
    seen = flow(
        """
        names = ["b", "a", "c"][: job.attempt + 1]
        with block("Sort"):
            names.sort()
        finish(names=names)
        """
    )
    assert seen == [{"names": ["a", "b"]}, {"names": ["b", "a", "c"]}]
    assert "cannot redo the changes to 'names': the block changed a list of 2 items, it has 3 now" in (
        capsys.readouterr().err
    )


def test_a_change_the_codec_cannot_save_is_told_at_the_first_attempt(flow, capsys) -> None:
    seen = flow(
        """
        handlers = {}
        with block("Register"):
            handlers["print"] = print
            handlers["n"] = 1
        finish(names=sorted(handlers))
        """
    )
    assert seen == [{"names": ["n", "print"]}, {"names": []}]
    assert "cannot save 'handlers'" in capsys.readouterr().err


def test_a_record_made_before_patches_is_still_replayed(store, db_url, write) -> None:
    """A job begun by an older psflow stored each changed object whole: a replay still restores it."""
    script = write(
        "old.py",
        """
        rows = []
        with block("Fill"):
            rows.append(1)
        if job.attempt == 1:
            stop("Waiting")
        print(rows)
        """,
    )
    first = run(store, script)
    forge(db_url, "psflow_block", {"job_id": first.job_id, "name": "Fill"}, mutated=codec.encode({"rows": [1, 2]}))
    assert resume_one(store, first.job_id).status == "Completed"


def test_a_changed_object_psflow_cannot_read_is_told_once_an_attempt(flow, capsys) -> None:
    flow(
        """
        data = bytearray(b"ab")
        view = memoryview(data)
        with block("First"):
            view[0] = 65
        with block("Second"):
            view[1] = 66
            print(view)  # only given to a call: watched if it can be, told of never
        finish()
        """
    )
    err = capsys.readouterr().err
    told = "cannot watch 'view' (memoryview): psflow cannot read its state, so what the block changes in it"
    assert err.count(told) == 1  # the first attempt's, once for both blocks; the replay runs no body
    assert "a change outside Python, like a database write, needs nothing" in err
