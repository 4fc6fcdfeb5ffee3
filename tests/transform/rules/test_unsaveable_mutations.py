"""Rule unsaveable_mutations: a block changing in place an outer object psflow cannot save is a warning."""

from __future__ import annotations

import pytest
from rule_support import warnings


def _changes(name: str, what: str, line: int, block: str = "'A'") -> str:
    return (
        f"block {block} changes `{name}` in place, but `{name}` ({what} at line {line}) is a handle whose state "
        f"lives outside Python's objects: psflow cannot record the change, "
        f"and a replay leaves `{name}` as it was before the block"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            'log = open("run.log", "a")\nwith block("A"):\n    log.write("x")\n',
            [(2, _changes("log", "open()", 1))],
            id="open",
        ),
        pytest.param(
            'import socket as so\ns = so.socket()\nwith block("A"):\n    s.connect(addr)\n',
            [(3, _changes("s", "socket.socket()", 2))],
            id="socket-alias",
        ),
        pytest.param(
            'from sqlite3 import connect\ndb = connect("x")\nwith block("A"):\n    db.execute("q")\n',
            [(3, _changes("db", "sqlite3.connect()", 2))],
            id="from-import",
        ),
        pytest.param(
            'f = lambda: 1\nwith block("A"):\n    f.calls = 1\n', [(2, _changes("f", "a lambda", 1))], id="lambda"
        ),
        pytest.param(
            'with open(p) as fh:\n    with block("A"):\n        fh.seek(0)\n',
            [(2, _changes("fh", "open()", 1))],
            id="with-as",
        ),
        pytest.param(
            'def f():\n    cur = conn.cursor()\n    with block("A"):\n        cur.execute("q")\n',
            [(3, _changes("cur", "conn.cursor()", 2))],
            id="method-in-function",
        ),
        pytest.param(
            'db = pool[0].cursor()\nwith block("A"):\n    db.execute("q")\n',
            [(2, _changes("db", "cursor()", 1))],
            id="method-of-no-name",
        ),
        pytest.param(
            'fh = open(p)\nwith block("A"):\n    with block("B"):\n        fh.write("x")\n',
            [(2, _changes("fh", "open()", 1))],
            id="nested-reported-once",
        ),
    ],
)
def test_changing_an_unsaveable_outer_object_is_a_warning(source: str, expected: list) -> None:
    assert warnings(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('results = []\nwith block("A"):\n    results.append(1)\n', id="list"),
        pytest.param('config = load()\nwith block("A"):\n    config["k"] = 1\n', id="unknown-call"),
        pytest.param('def f(conn):\n    with block("A"):\n        conn.execute("q")\n', id="parameter"),
        pytest.param('with block("A"):\n    fh = open(p)\n    fh.write("x")\n', id="bound-in-the-block"),
        pytest.param('log = logging.getLogger()\nwith block("A"):\n    log.info("x")\n', id="logger"),
    ],
)
def test_no_mutation_warning(source: str) -> None:
    assert warnings(source) == []
