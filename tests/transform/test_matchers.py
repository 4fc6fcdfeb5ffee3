"""psflow.transform.matchers: what counts as psflow's block, a str name, a literal of some kind, a dotted name."""

from __future__ import annotations

from textwrap import dedent

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, QualifiedNameProvider

from psflow.transform.matchers import (
    bound_names,
    callee,
    dotted_name,
    is_block_call,
    is_constant_other_than_str,
    literal_kind,
    name_argument,
    root_name,
    str_value,
)


def expression(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


def block_calls(source: str) -> list[bool]:
    """For each call in `source`, in order: is it psflow's block?"""
    wrapper = MetadataWrapper(cst.parse_module(dedent(source)))
    names = wrapper.resolve(QualifiedNameProvider)

    def qualified(node: cst.CSTNode) -> set[str]:
        found = names.get(node, set())
        return {name.name for name in (found() if callable(found) else found)}

    class Calls(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[bool] = []

        def visit_Call(self, node: cst.Call) -> None:
            self.found.append(is_block_call(node, qualified))

    calls = Calls()
    wrapper.module.visit(calls)
    return calls.found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param('with block("A"): pass', [True], id="provided-name"),
        pytest.param('from psflow import block\nwith block("A"): pass', [True], id="imported"),
        pytest.param('from psflow import block as step\nwith step("A"): pass', [True], id="alias"),
        pytest.param('import psflow\nwith psflow.block("A"): pass', [True], id="module"),
        pytest.param('import psflow as p\nwith p.block("A"): pass', [True], id="module-alias"),
        pytest.param('from psflow.script import block\nwith block("A"): pass', [True], id="where-it-is-defined"),
        pytest.param('block = make()\nwith block("A"): pass', [False, False], id="the-scripts-own"),
        pytest.param('def f(block):\n    with block("A"): pass', [False], id="a-parameter"),
        pytest.param('from other import block\nwith block("A"): pass', [False], id="another-modules"),
        pytest.param('with blocks("A"): pass', [False], id="another-name"),
    ],
)
def test_block_calls_by_qualified_name(source: str, expected: list[bool]) -> None:
    assert block_calls(source) == expected


@pytest.mark.parametrize(
    ("call", "name"),
    [
        pytest.param('block("A")', '"A"', id="positional"),
        pytest.param('block(name="A")', '"A"', id="keyword"),
        pytest.param('block("A", retries=2)', '"A"', id="with-options"),
        pytest.param("block()", None, id="none"),
        pytest.param('block("A", "B")', None, id="two"),
        pytest.param('block("A", name="B")', None, id="both"),
        pytest.param("block(*names)", None, id="starred"),
    ],
)
def test_name_argument(call: str, name: str | None) -> None:
    found = name_argument(cst.ensure_type(expression(call), cst.Call))
    assert (cst.Module([]).code_for_node(found) if found is not None else None) == name


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ('"a"', "str"),
        ('f"a{b}"', "str"),
        ('"a" "b"', "str"),
        ('b"a"', "bytes"),
        ('b"a" b"b"', "bytes"),
        ("1", "int"),
        ("-1", "int"),
        ("+1.5", "float"),
        ("1j", "complex"),
        ("[1]", "list"),
        ("(1,)", "tuple"),
        ("{}", "dict"),
        ("{1}", "set"),
        ("[x for x in y]", "list"),
        ("(x for x in y)", "generator"),
        ("lambda: 1", "function"),
        ("...", "ellipsis"),
        ("None", "None"),
        ("True", "True"),
        ("name", None),
        ("f()", None),
        ("a + b", None),
        ("-x", None),
        ("1 + 2j", None),
    ],
)
def test_literal_kind(code: str, kind: str | None) -> None:
    assert literal_kind(expression(code)) == kind


@pytest.mark.parametrize(
    ("code", "other"),
    [
        ("3", True),
        ('b"x"', True),
        ("None", True),
        ('("a",)', True),
        ("1 + 2j", True),
        ("-1j", True),
        ('"a"', False),
        ('"a" "b"', False),
        ('f"a"', False),
        ("name", False),
        ("[x for x in y]", False),
    ],
)
def test_is_constant_other_than_str(code: str, other: bool) -> None:
    assert is_constant_other_than_str(expression(code)) is other


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ('"Step1"', "Step1"),
        ("'a\\tb'", "a\tb"),
        ('r"a\\tb"', "a\\tb"),
        ('"Con" "cat"', "Concat"),
        ('f"plain"', "plain"),
        ('f"a{{b}}"', "a{b}"),
        ('("a"\n "b")', "ab"),
        ('f"a-{x}"', None),
        ('b"x"', None),
        ("name", None),
        ("3", None),
        ('"a" + "b"', None),
    ],
)
def test_str_value(code: str, value: str | None) -> None:
    assert str_value(expression(code)) == value


@pytest.mark.parametrize(
    ("code", "dotted", "called"),
    [
        ("open", "open", "open"),
        ("os.path.join", "os.path.join", "os.path.join"),
        ("Path(p).open", "", "open"),
        ("items[0].pop", "", "pop"),
    ],
)
def test_dotted_names_and_callees(code: str, dotted: str, called: str) -> None:
    assert (dotted_name(expression(code)), callee(expression(code))) == (dotted, called)


@pytest.mark.parametrize(
    ("code", "root"), [("a", "a"), ("a.b[c].d", "a"), ("a[0]", "a"), ("f().x", None), ("(a + b).c", None)]
)
def test_root_name(code: str, root: str | None) -> None:
    assert root_name(expression(code)) == root


@pytest.mark.parametrize(
    ("code", "names"),
    [("a", ["a"]), ("(a, [b, *c])", ["a", "b", "c"]), ("a.b", []), ("a[0], d", ["d"])],
)
def test_bound_names(code: str, names: list[str]) -> None:
    assert bound_names(expression(code)) == names
