"""Rule loop_names: a literal block name inside a loop is a warning, with the loop variable in the fix."""

from __future__ import annotations

import pytest
from rule_support import text, warnings

from psflow.transform import check_script


def test_literal_name_inside_a_loop_is_a_warning_with_the_loop_variable_in_the_fix() -> None:
    result = check_script(
        text(
            """
            for host in hosts:
                with block("Deploy"):
                    deploy(host)
            while more():
                block "Poll":
                    poll()
            """
        ),
        "flow.py",
    )
    assert [(d.line, d.column, d.message, d.fix) for d in result.diagnostics] == [
        (
            2,
            16,
            (
                "block name 'Deploy' is the same on every pass of the loop at line 1: "
                "the second pass reaches it again and fails"
            ),
            'give each pass its own name, e.g. block(f"Deploy-{host}")',
        ),
        (
            5,
            11,
            (
                "block name 'Poll' is the same on every pass of the loop at line 4: "
                "the second pass reaches it again and fails"
            ),
            'give each pass its own name, e.g. block(f"Poll-{i}")',
        ),
    ]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('for h in hosts:\n    with block(f"Deploy-{h}"): pass\n', id="dynamic"),
        pytest.param('for h in hosts:\n    pass\nelse:\n    with block("Done"): pass\n', id="loop-else"),
        pytest.param('for h in hosts:\n    def f():\n        with block("A"): pass\n', id="function-in-loop"),
    ],
)
def test_no_loop_warning(source: str) -> None:
    assert warnings(source) == []
