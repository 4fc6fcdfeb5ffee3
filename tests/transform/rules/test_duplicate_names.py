"""Rule duplicate_names: the same literal block name twice on one path is an error."""

from __future__ import annotations

import pytest
from rule_support import errors

from psflow.transform import TransformError, compile_script

TWICE = "block name 'A' is used twice on one path (first at line {}): when both run in one attempt, the second fails"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param('with block("A"):\n    pass\nwith block("A"):\n    pass\n', [(3, TWICE.format(1))], id="sequence"),
        pytest.param(
            'if x:\n    with block("A"): pass\nwith block("A"): pass\n', [(3, TWICE.format(2))], id="if-then-after"
        ),
        pytest.param('with block("A"):\n    with block("A"): pass\n', [(2, TWICE.format(1))], id="nested"),
        pytest.param(
            'try:\n    with block("A"): pass\nexcept E:\n    with block("A"): pass\n',
            [(4, TWICE.format(2))],
            id="try-body-and-handler",
        ),
        pytest.param(
            'def f():\n    with block("A"): pass\n    if x:\n        with block("A"): pass\n',
            [(4, TWICE.format(2))],
            id="in-one-function",
        ),
        pytest.param(
            'block "A":\n    pass\nblock "A":\n    pass\nblock "A":\n    pass\n',
            [(3, TWICE.format(1)), (5, TWICE.format(1))],
            id="each-repeat-once",
        ),
    ],
)
def test_same_literal_name_twice_on_one_path_is_an_error(source: str, expected: list) -> None:
    assert errors(source) == expected
    with pytest.raises(TransformError) as caught:
        compile_script(source, "flow.py")
    assert [(d.line, d.message) for d in caught.value.diagnostics] == expected
    assert all(d.fix.startswith("give each block its own name") for d in caught.value.diagnostics)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('if x:\n    with block("A"): pass\nelse:\n    with block("A"): pass\n', id="if-else"),
        pytest.param(
            'if x:\n    with block("A"): pass\nelif y:\n    with block("A"): pass\nelse:\n    with block("A"): pass\n',
            id="if-elif-else",
        ),
        pytest.param(
            'match x:\n    case 1:\n        with block("A"): pass\n    case _:\n        with block("A"): pass\n',
            id="match-cases",
        ),
        pytest.param(
            'try:\n    pass\nexcept E:\n    with block("A"): pass\nexcept F:\n    with block("A"): pass\n'
            'else:\n    with block("A"): pass\n',
            id="handlers-and-else",
        ),
        pytest.param(
            'def f():\n    with block("A"): pass\ndef g():\n    with block("A"): pass\nwith block("A"): pass\n',
            id="different-functions",
        ),
        pytest.param('with block("A"): pass\nwith block("a"): pass\n', id="case-sensitive"),
        pytest.param('with block(f"A-{x}"): pass\nwith block(f"A-{x}"): pass\n', id="dynamic-names"),
    ],
)
def test_exclusive_or_separate_places_may_share_a_name(source: str) -> None:
    assert errors(source) == []
    compile_script(source, "flow.py")
