"""Rule block_calls: a `block(...)` call psflow cannot rewrite is an error, pointed at what is wrong."""

from __future__ import annotations

import pytest
from rule_support import raised, text

from psflow.transform import check_script

_KEPT = "that form is kept for the keys of @block calls (`Fetch(1)`, `Fetch(1)#2`)"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("with block(1): pass", [(1, 12, "block name must be a str, not int")], id="int"),
        pytest.param("with block(-1.5): pass", [(1, 12, "block name must be a str, not float")], id="negative-float"),
        pytest.param('with block(b"x"): pass', [(1, 12, "block name must be a str, not bytes")], id="bytes"),
        pytest.param(
            'with block(b"x" b"y"): pass', [(1, 12, "block name must be a str, not bytes")], id="bytes-concat"
        ),
        pytest.param('with block(["x"]): pass', [(1, 12, "block name must be a str, not list")], id="list"),
        pytest.param("with block(None): pass", [(1, 12, "block name must be a str, not None")], id="None"),
        pytest.param("with block(True): pass", [(1, 12, "block name must be a str, not True")], id="True"),
        pytest.param('block b"x":\n    pass', [(1, 7, "block name must be a str, not bytes")], id="shorthand-bytes"),
        pytest.param("with block(): pass", [(1, 6, 'a block needs exactly one name: block("Name")')], id="no-name"),
        pytest.param(
            'with block("a", "b"): pass', [(1, 6, 'a block needs exactly one name: block("Name")')], id="two-names"
        ),
        pytest.param(
            'with block("deploy(web1)#2"): pass',
            [(1, 12, "block name 'deploy(web1)#2' ends in ')' or ')#N': " + _KEPT)],
            id="call-key-shaped",
        ),
    ],
)
def test_bad_block_names(source: str, expected: list[tuple[int, int, str]]) -> None:
    assert raised(source) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param('block("A", retries=-1)', (3, 25, "retries must be an int of 0 or more, not a negative number")),
        pytest.param('block("A", retries=2.5)', (3, 25, "retries must be an int of 0 or more, not a float")),
        pytest.param('block("A", retries="3")', (3, 25, "retries must be an int of 0 or more, not a str")),
        pytest.param('block("A", retries=None)', (3, 25, "retries must be an int of 0 or more, not None")),
        pytest.param(
            'block("A", retries=2, backoff=-1)',
            (3, 36, "backoff must be seconds (0 or more) or a timedelta, not a negative number"),
        ),
        pytest.param(
            'block("A", retry=2)',
            (3, 17, "block() has no option 'retry'; its options are retries=, backoff= and timeout="),
        ),
        pytest.param('block("A", **options)', (3, 17, "write the block's name and options out in full, not `**…`")),
        pytest.param(
            'block("A", timeout=0)', (3, 25, "timeout must be seconds (more than 0), a timedelta or None, not 0")
        ),
        pytest.param(
            'block("A", timeout=0.0)', (3, 25, "timeout must be seconds (more than 0), a timedelta or None, not 0")
        ),
        pytest.param(
            'block("A", timeout=-5)',
            (3, 25, "timeout must be seconds (more than 0), a timedelta or None, not a negative number"),
        ),
        pytest.param(
            'block("A", timeout="10m")',
            (3, 25, "timeout must be seconds (more than 0), a timedelta or None, not a str"),
        ),
    ],
)
def test_bad_options(header: str, expected: tuple[int, int, str]) -> None:
    assert raised(f"options = {{}}\nprint('ran')\nwith {header}:\n    x = 1\n") == [expected]


def test_a_time_limit_is_seconds_or_none() -> None:
    for value in ("600", "0.5", "None", "timedelta(minutes=10)", "limit"):
        source = f'with block("A", timeout={value}, retries=1):\n    x = 1\n'
        assert check_script(text(source), "flow.py").diagnostics == (), value


def test_options_that_are_not_literals_are_left_to_run_time() -> None:
    assert check_script(text('with block("A", retries=n, backoff=delay):\n    x = 1\n'), "flow.py").diagnostics == ()


def test_a_retried_body_on_the_header_line() -> None:
    assert raised('with block("A", retries=2): x = 1\n') == [
        (1, 29, "a block with retries needs its body on the lines below the `with`")
    ]


def test_only_the_first_kind_of_problem_in_a_call_is_reported() -> None:
    """A bad name hides bad options: fixing the name shows them, one thing at a time per call."""
    assert raised('with block(1, retries=-1, backoff="x"): pass\n') == [(1, 12, "block name must be a str, not int")]
    assert [message for _, _, message in raised('with block("A", retries=-1, backoff="x"): pass\n')] == [
        "retries must be an int of 0 or more, not a negative number",
        "backoff must be seconds (0 or more) or a timedelta, not a str",
    ]


@pytest.mark.parametrize(
    ("source", "message", "fix"),
    [
        pytest.param(
            "with block(1): pass",
            "block name must be a str, not int",
            'name the block with a str: block("Step1"), or block(f"step-{item}") in a loop',
            id="not-a-str",
        ),
        pytest.param(
            "with block(): pass",
            'a block needs exactly one name: block("Name")',
            'give the block one name: block("Step1")',
            id="no-name",
        ),
        pytest.param(
            'with block("A", retry=2): pass',
            "block() has no option 'retry'",
            "its options are retries=, backoff= and timeout=",
            id="unknown-option",
        ),
        pytest.param(
            'with block("A", retries=-1):\n    pass',
            "retries must be an int of 0 or more, not a negative number",
            "give retries= how many times to try again, such as 3",
            id="retries",
        ),
        pytest.param(
            'with block("A", backoff=True):\n    pass',
            "backoff must be seconds (0 or more) or a timedelta, not True",
            "give backoff= the seconds to wait before the first retry, such as 2.0",
            id="backoff",
        ),
        pytest.param(
            'with block("A", timeout=0):\n    pass',
            "timeout must be seconds (more than 0), a timedelta or None, not 0",
            "give timeout= the most seconds one run of the body may take, such as 600",
            id="timeout",
        ),
        pytest.param(
            'with block("A", retries=1): pass',
            "a block with retries needs its body on the lines below the `with`",
            "put the body on its own indented lines",
            id="retried-body",
        ),
    ],
)
def test_psflow_check_shows_each_with_its_fix(source: str, message: str, fix: str) -> None:
    [diagnostic] = check_script(source, "flow.py").diagnostics
    assert (diagnostic.severity, diagnostic.message, diagnostic.fix) == ("error", message, fix)
