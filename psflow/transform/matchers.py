"""What libcst nodes are: psflow's `block` under any alias, literal kinds, names and dotted names.

The planner, the rules and the rewriter ask these questions of the same nodes; one
answer for each keeps what counts as a block, a str name or a mutated name the same
everywhere.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection

import libcst as cst

# What `block` is, under any alias: the public name and where it is defined.
BLOCK_NAMES = frozenset({"psflow.block", "psflow.script.block", "psflow.script.block.block"})

# The keyword arguments `block()` takes besides `name=`.
OPTIONS = ("retries", "backoff", "timeout")

_NON_STR_LITERALS: dict[type[cst.CSTNode], str] = {
    cst.Integer: "int",
    cst.Float: "float",
    cst.Imaginary: "complex",
    cst.List: "list",
    cst.Tuple: "tuple",
    cst.Dict: "dict",
    cst.Set: "set",
    cst.ListComp: "list",
    cst.SetComp: "set",
    cst.DictComp: "dict",
    cst.GeneratorExp: "generator",
    cst.Lambda: "function",
    cst.Ellipsis: "ellipsis",
}

# Renders a node on its own: an expression's text does not depend on the module around it
# (only its newline style could, and no answer here depends on that).
_ALONE = cst.Module(body=[])


def code_of(node: cst.CSTNode) -> str:
    """The source text of `node`."""
    return _ALONE.code_for_node(node)


def is_block_call(node: cst.BaseExpression, qualified_names: Callable[[cst.CSTNode], Collection[str]]) -> bool:
    """Is `node` a call of psflow's `block`: under any alias, or an unbound `block` (the name psflow provides)?

    `qualified_names` gives the qualified names a node may refer to (libcst's QualifiedNameProvider).
    """
    if not isinstance(node, cst.Call):
        return False
    names = qualified_names(node.func)
    if not BLOCK_NAMES.isdisjoint(names):
        return True
    return isinstance(node.func, cst.Name) and node.func.value == "block" and not names


def keyword(arg: cst.Arg) -> str | None:
    """`retries` for `retries=3`; None for a positional argument."""
    return arg.keyword.value if arg.keyword is not None else None


def name_argument(call: cst.Call) -> cst.BaseExpression | None:
    """The name given to `block(...)`: its one positional argument or `name=`; None unless there is exactly one."""
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    named = [arg for arg in call.args if keyword(arg) == "name"]
    return (positional or named)[0].value if len(positional) + len(named) == 1 else None


def literal_kind(node: cst.BaseExpression) -> str | None:
    """The type a literal expression has ("str", "int", "None", …); None if it is not a literal."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return "bytes" if _is_bytes(node) else "str"
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        return literal_kind(node.expression) if isinstance(node.expression, (cst.Integer, cst.Float)) else None
    if isinstance(node, cst.Name) and node.value in ("None", "True", "False"):
        return node.value
    return next((label for cls, label in _NON_STR_LITERALS.items() if isinstance(node, cls)), None)


def is_negative(node: cst.BaseExpression) -> bool:
    """Is `node` written with a leading minus (`-1`)?"""
    return isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus)


def is_zero(node: cst.BaseExpression) -> bool:
    """Is `node` a number literal that is 0 (`0`, `0.0`, `0e3`)?"""
    return isinstance(node, (cst.Integer, cst.Float)) and node.evaluated_value == 0


def is_constant_other_than_str(node: cst.BaseExpression) -> bool:
    """Is `node` a constant that is no str (`3`, `b"x"`, `None`, `("a",)`, `1+2j`)?"""
    try:
        return not isinstance(ast.literal_eval("(" + code_of(node) + ")"), str)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def str_value(node: cst.BaseExpression) -> str | None:
    """The value of a str literal (plain, concatenated, or an f-string without fields); None otherwise."""
    if not _is_str_literal(node):
        return None
    try:
        tree = ast.parse("(" + code_of(node) + ")", mode="eval").body
    except SyntaxError:
        return None
    if isinstance(tree, ast.Constant) and isinstance(tree.value, str):
        return tree.value
    if isinstance(tree, ast.JoinedStr) and all(
        isinstance(part, ast.Constant) and isinstance(part.value, str) for part in tree.values
    ):
        return "".join(part.value for part in tree.values)  # type: ignore[attr-defined]
    return None


def dotted_name(node: cst.BaseExpression) -> str:
    """`os.path.join` for that chain of names; "" when `node` is not one."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        value = dotted_name(node.value)
        return f"{value}.{node.attr.value}" if value else ""
    return ""


def callee(func: cst.BaseExpression) -> str:
    """`open`, `conn.cursor`, `socket.socket`: the dotted name a call calls ("" if not a plain chain)."""
    if isinstance(func, cst.Attribute) and not dotted_name(func):
        return func.attr.value  # `Path(p).open()`: the method name is what tells
    return dotted_name(func)


def root_name(node: cst.BaseExpression) -> str | None:
    """`a` for `a.b[c].d`; None when the chain does not start at a plain name."""
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def bound_names(target: cst.BaseExpression) -> list[str]:
    """Names an assignment to `target` binds (attributes and items bind none)."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in bound_names(element.value)]
    if isinstance(target, cst.StarredElement):
        return bound_names(target.value)
    return []


def _is_str_literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.SimpleString):
        return "b" not in node.prefix.lower()
    if isinstance(node, cst.ConcatenatedString):
        return _is_str_literal(node.left) and _is_str_literal(node.right)
    if isinstance(node, cst.FormattedString):
        return all(isinstance(part, cst.FormattedStringText) for part in node.parts)
    return False


def _is_bytes(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.ConcatenatedString):
        return _is_bytes(node.left)
    return isinstance(node, cst.SimpleString) and "b" in node.prefix.lower()
