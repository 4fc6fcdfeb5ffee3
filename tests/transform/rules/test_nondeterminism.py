"""Rule nondeterminism: a value that differs on every attempt deciding which blocks run, or naming one."""

from __future__ import annotations

import pytest
from rule_support import warnings

DECIDES = (
    "this {} test uses {}, which differs on every attempt, and decides which blocks run: "
    "a resumed job may take another path"
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            'import random\npick = random.choice(xs)\nif pick:\n    with block("A"): pass\n',
            [(3, DECIDES.format("if", "`pick` (from random.choice() at line 2)"))],
            id="random-module",
        ),
        pytest.param(
            'from random import randint as r\nn = r(1, 6)\nbig = n > 3\nif big:\n    with block("A"): pass\n',
            [(4, DECIDES.format("if", "`big` (from random.randint() at line 2)"))],
            id="from-import-and-derived",
        ),
        pytest.param(
            'from datetime import datetime\nnow = datetime.now()\nwhile now.hour < 6:\n    with block(f"p{x}"): pass\n',
            [(3, DECIDES.format("while", "`now` (from datetime.datetime.now() at line 2)"))],
            id="datetime-now",
        ),
        pytest.param(
            'import datetime as dt\nif dt.date.today().day == 1:\n    with block("A"): pass\n',
            [(2, DECIDES.format("if", "datetime.date.today()"))],
            id="direct-call-in-test",
        ),
        pytest.param(
            'import time\nt = time.time()\ndef go():\n    with block("A"): pass\nif t % 2:\n    go()\n',
            [(5, DECIDES.format("if", "`t` (from time.time() at line 2)"))],
            id="calls-a-function-with-blocks",
        ),
        pytest.param(
            'import time\nt = time.time()\ndef f():\n    if t:\n        with block("A"): pass\n',
            [(4, DECIDES.format("if", "`t` (from time.time() at line 2)"))],
            id="global-read-in-function",
        ),
        pytest.param(
            'import random\nif x:\n    pass\nelif random.random() < .5:\n    with block("A"): pass\n',
            [(4, DECIDES.format("if", "random.random()"))],
            id="elif",
        ),
    ],
)
def test_attempt_dependent_value_deciding_which_blocks_run_is_a_warning(source: str, expected: list) -> None:
    assert warnings(source) == expected


def test_attempt_dependent_block_name_is_a_warning() -> None:
    assert warnings('import uuid\nrun_id = uuid.uuid4()\nwith block(f"load-{run_id}"):\n    pass\n') == [
        (
            3,
            (
                'block name f"load-{run_id}" uses `run_id` (from uuid.uuid4() at line 2), which differs on every '
                "attempt: a resumed job will not find the block it completed, and runs it again"
            ),
        ),
    ]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            'import random\nwith block("Pick"):\n    pick = random.choice(xs)\nif pick:\n    with block("A"): pass\n',
            id="saved-in-a-block",
        ),
        pytest.param(
            'import random\npick = random.choice(xs)\nif pick:\n    print("no blocks here")\n', id="no-block-decided"
        ),
        pytest.param(
            'import time\nstart = time.time()\nif time.time() - start > 5:\n    stop("Waiting")\n'
            'with block("A"): pass\n',
            id="stop-is-not-a-block",
        ),
        pytest.param(
            'import random\nrandom.seed(1)\nx = random.Random(1)\nif x:\n    with block("A"): pass\n',
            id="seeded-generator",
        ),
        pytest.param(
            'with block("A"):\n    import random\n    if random.random():\n        with block("B"): pass\n',
            id="test-inside-a-block",
        ),
    ],
)
def test_no_attempt_dependence_warning(source: str) -> None:
    assert warnings(source) == []
