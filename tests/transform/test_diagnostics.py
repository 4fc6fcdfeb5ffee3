"""Diagnostics: where each points in the user's file, and how it reads raised (`psflow exec`) and checked.

Compiling raises a TransformError whose diagnostics read as psflow has always
printed them; `psflow check` shows the same findings with each fix on a line of
its own. The fix is attached where each diagnostic is made.
"""

from __future__ import annotations

import pytest
from rule_support import raised, text

from psflow.transform import Diagnostic, TransformError, check_script, compile_script


@pytest.mark.parametrize(
    ("source", "line", "column", "message"),
    [
        pytest.param("x = (\n", 1, 5, "syntax error: '(' was never closed", id="plain"),
        pytest.param("x = 1\ndef f(:\n    pass\n", 2, 7, "syntax error: invalid syntax", id="plain-invalid"),
        pytest.param('block "é" as b c:\n    pass\n', 1, 16, "syntax error: invalid syntax", id="shorthand-header"),
        pytest.param('block "a" +:\n    pass\n', 1, 12, "syntax error: invalid syntax", id="shorthand-name"),
        pytest.param(
            'block "a":\nx = 1\n',
            2,
            1,
            "syntax error: expected an indented block after block on line 1",
            id="shorthand-no-body",
        ),
        pytest.param(
            'block "a":\n    x = 1\n  y = 2\n',
            3,
            8,
            "syntax error: unindent does not match any outer indentation level",
            id="after-shorthand",
        ),
        pytest.param(
            'block "a":\n    return 1\n', 2, 5, "syntax error: 'return' outside function", id="compiler-check"
        ),
        pytest.param(
            'block "é": x = 1; break\n', 1, 19, "syntax error: 'break' outside loop", id="compiler-check-non-ascii"
        ),
        pytest.param("return 1\n", 1, 1, "syntax error: 'return' outside function", id="compiler-check-no-blocks"),
    ],
)
def test_syntax_errors_point_at_the_users_line_and_column(source: str, line: int, column: int, message: str) -> None:
    with pytest.raises(TransformError) as caught:
        compile_script(source, "flow.py")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.message) == (line, column, message)
    assert diagnostic.source_line == source.splitlines()[line - 1]
    assert str(caught.value).startswith(f"flow.py:{line}:{column}: error: {message}\n")


def test_syntax_errors_are_reported_not_raised() -> None:
    result = check_script("with block('A'):\nx = 1\n", "flow.py")
    [diagnostic] = result.diagnostics
    assert diagnostic.severity == "error" and diagnostic.message.startswith("syntax error")
    assert diagnostic.fix == "correct the Python syntax at this position" and result.sites == ()


def test_valid_python_libcst_cannot_parse_is_diagnosed_not_called_a_syntax_error() -> None:
    ((line, _, message),) = raised(
        """
        with block("a"):
            (parenthesised): int = 1
        """
    )
    assert line == 2 and message.startswith("psflow's rewriter (libcst) cannot read this valid Python")
    [checked] = check_script(text('with block("a"):\n    (parenthesised): int = 1\n'), "flow.py").diagnostics
    assert checked.message == "psflow's rewriter (libcst) cannot read this valid Python"
    assert checked.fix.startswith("write it another way (")


# ---- the same finding, raised and checked ------------------------------------------------------------


def diagnostic(fix_when_raised: str) -> Diagnostic:
    return Diagnostic("error", "flow.py", 2, 5, "what is wrong", "    x = 1", "what to do", fix_when_raised)


@pytest.mark.parametrize(
    ("style", "message", "fix"),
    [
        pytest.param("apart", "what is wrong", "what to do", id="apart"),
        pytest.param("joined", "what is wrong; what to do", "", id="joined"),
        pytest.param("omitted", "what is wrong", "", id="omitted"),
    ],
)
def test_raised_form(style: str, message: str, fix: str) -> None:
    raised_form = diagnostic(style).raised()
    assert (raised_form.message, raised_form.fix) == (message, fix)
    assert raised_form.raised() == raised_form


def test_a_transform_error_keeps_both_forms() -> None:
    made = [diagnostic("joined"), diagnostic("apart")]
    error = TransformError(made)
    assert error.findings == tuple(made)
    assert str(error) == (
        "flow.py:2:5: error: what is wrong; what to do\n    x = 1\n"
        "flow.py:2:5: error: what is wrong\n    x = 1\n    fix: what to do"
    )


@pytest.mark.parametrize(
    ("source", "raised_text", "checked"),
    [
        pytest.param(
            'def g():\n    with block("a"):\n        yield 1\n',
            "flow.py:3:9: error: `yield` inside a block cannot be replayed; move it out of the block\n    yield 1",
            ("`yield` inside a block cannot be replayed", "move it out of the block"),
            id="refusal: fix joined when raised",
        ),
        pytest.param(
            "with block(42):\n    x = 1\n",
            "flow.py:1:12: error: block name must be a str, not int\n    with block(42):",
            (
                "block name must be a str, not int",
                'name the block with a str: block("Step1"), or block(f"step-{item}") in a loop',
            ),
            id="refusal: fix only in psflow check",
        ),
        pytest.param(
            'with block("A"):\n    pass\nwith block("A"):\n    pass\n',
            "flow.py:3:12: error: block name 'A' is used twice on one path (first at line 1): when both run in one "
            "attempt, the second fails\n    with block(\"A\"):\n    fix: give each block its own name (e.g. 'A-2'), "
            "or put them in different branches of one if/else",
            (
                (
                    "block name 'A' is used twice on one path (first at line 1): when both run in one attempt, "
                    "the second fails"
                ),
                "give each block its own name (e.g. 'A-2'), or put them in different branches of one if/else",
            ),
            id="rule: fix apart",
        ),
    ],
)
def test_exec_and_check_print_what_they_always_have(source: str, raised_text: str, checked: tuple) -> None:
    with pytest.raises(TransformError) as caught:
        compile_script(source, "flow.py")
    assert str(caught.value) == raised_text
    [found] = check_script(source, "flow.py").diagnostics
    assert (found.message, found.fix) == checked


def test_every_error_psflow_check_shows_has_a_fix_but_one() -> None:
    """The one without: `write the block's name and options out in full, not `**…``, which says it already."""
    sources = [
        "with block(1): pass",
        "with block(): pass",
        'with block("A", retry=2): pass',
        'with block("A", retries=-1):\n    pass',
        'with block("A", backoff=True):\n    pass',
        'with block("A", retries=1): pass',
        'with block("a"), block("b"): pass',
        'async def g():\n    async with block("a"):\n        pass\n',
        'block = b\nblock "a":\n    pass\n',
        'with block("a"):\n    import *\n',
        "x = (\n",
        'with block("a"):\n    from m import *\n',
    ]
    for source in sources:
        for found in check_script(source, "flow.py").diagnostics:
            assert found.fix, (source, found)
    [starred] = check_script('with block("A", **options): pass', "flow.py").diagnostics
    assert starred.fix == ""
