"""Rule process_state: a block that changes the Python process (which a replay does not redo) is a warning."""

from __future__ import annotations

import pytest
from rule_support import warnings


def _changes(what: str, block: str = "'A'") -> str:
    return (
        f"block {block} changes the Python process ({what}): a replay does not run the block, "
        "so later attempts go on without that change"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            'import sys\nwith block("A"):\n    sys.path.insert(0, "lib")\n',
            [(3, _changes("sys.path.insert()"))],
            id="sys.path",
        ),
        pytest.param(
            'from sys import path as p\nwith block("A"):\n    p.append("lib")\n',
            [(3, _changes("sys.path.append()"))],
            id="sys.path-imported-as",
        ),
        pytest.param(
            'import warnings\nwith block("A"):\n    warnings.filterwarnings("ignore")\n',
            [(3, _changes("warnings.filterwarnings()"))],
            id="warnings-filter",
        ),
        pytest.param(
            'import sys\nwith block("A"):\n    sys.setrecursionlimit(5000)\n',
            [(3, _changes("sys.setrecursionlimit()"))],
            id="recursion-limit",
        ),
        pytest.param(
            'with block("A"):\n    globals()["made"] = 1\n',
            [(2, _changes("a name bound through globals()[...]"))],
            id="globals-item",
        ),
        pytest.param('with block("A"):\n    exec("y = 2")\n', [(2, _changes("exec()"))], id="exec"),
        pytest.param(
            'import sys\nwith block("A"):\n    sys.modules["m"] = None\n',
            [(3, _changes("sys.modules[...] assigned"))],
            id="sys.modules-item",
        ),
        pytest.param(
            'import sys\nwith block("A"):\n    sys.stdout = open("log", "w")\n',
            [(3, _changes("sys.stdout assigned"))],
            id="sys.stdout",
        ),
        pytest.param(
            'import logging\nwith block("A"):\n    with block("B"):\n        logging.basicConfig(level=10)\n',
            [(4, _changes("logging.basicConfig()", "'B'"))],
            id="nested-reported-once-for-the-inner-block",
        ),
    ],
)
def test_changing_the_process_in_a_block_is_a_warning(source: str, expected: list) -> None:
    assert warnings(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('import sys\nsys.path.insert(0, "lib")\nwith block("A"):\n    x = 1\n', id="outside-blocks"),
        pytest.param('import sys\nwith block("A"):\n    first = sys.path[0]\n', id="only-read"),
        pytest.param('import os\nwith block("A"):\n    os.chdir("work")\n', id="cwd-is-redone"),
        pytest.param('import os\nwith block("A"):\n    os.environ["K"] = "v"\n', id="environment-is-redone"),
        pytest.param('path = []\nwith block("A"):\n    path.append(1)\n', id="a-list-of-the-script"),
    ],
)
def test_no_process_state_warning(source: str) -> None:
    assert warnings(source) == []
