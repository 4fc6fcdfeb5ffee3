"""Rule class_factories: a block that makes a class with a call (which cannot be saved) is a warning."""

from __future__ import annotations

import pytest
from rule_support import warnings


def _makes(name: str, block: str = "'A'") -> str:
    return (
        f"block {block} makes a class ({name}()): a class cannot be saved, so a replay leaves it unbound, "
        "and a value of it that a block saved cannot be given back"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            'from collections import namedtuple\nwith block("A"):\n    Point = namedtuple("Point", "x y")\n',
            [(3, _makes("collections.namedtuple"))],
            id="namedtuple",
        ),
        pytest.param(
            'import enum\nwith block("A"):\n    Color = enum.Enum("Color", "RED GREEN")\n',
            [(3, _makes("enum.Enum"))],
            id="functional-enum",
        ),
        pytest.param(
            'import dataclasses as dc\nwith block("A"):\n    Row = dc.make_dataclass("Row", ["id"])\n',
            [(3, _makes("dataclasses.make_dataclass"))],
            id="make_dataclass-aliased-module",
        ),
        pytest.param(
            'with block("A"):\n    Thing = type("Thing", (), {})\n',
            [(2, _makes("type"))],
            id="type-with-three-arguments",
        ),
        pytest.param(
            'with block("A"):\n    with block("B"):\n        T = type("T", (), {})\n',
            [(3, _makes("type", "'B'"))],
            id="reported-once-for-the-innermost-block",
        ),
    ],
)
def test_a_class_made_in_a_block_is_a_warning(source: str, expected: list[tuple[int, str]]) -> None:
    assert warnings(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('with block("A"):\n    kind = type(value)\n', id="type-of-a-value"),
        pytest.param(
            'from collections import namedtuple\nPoint = namedtuple("Point", "x y")\n'
            'with block("A"):\n    p = Point(1, 2)\n',
            id="made-before-the-block",
        ),
        pytest.param('import enum\nwith block("A"):\n    red = Color(1)\n', id="an-enum-lookup"),
    ],
)
def test_what_makes_no_class_in_a_block_is_not_a_warning(source: str) -> None:
    assert warnings(source) == []
