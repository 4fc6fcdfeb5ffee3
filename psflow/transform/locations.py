"""Compile rewritten source so that every position is the user's own.

The rewrite adds whole statements after blocks (restores, repeated exits) and
widens a few lines (shorthand headers, `return X`). Here the AST of the
rewritten text is walked once: added lines are folded onto their block's header,
later lines move back up, widened columns move back left, and block handles
get names no user code can spell (`@psflow_b1`, as pytest does with
`@py_assert1`), which also keeps them out of class-private name mangling.
"""

from __future__ import annotations

import ast
from bisect import bisect_left
from dataclasses import dataclass
from types import CodeType

HANDLE_PREFIX = "__psflow_b"
HIDDEN_PREFIX = "@psflow_b"


@dataclass(frozen=True)
class Shift:
    """On user line `line`, text from byte column `column` (rewritten text) is `delta` bytes right."""

    line: int
    column: int
    delta: int


def compile_mapped(text: str, filename: str, shifts: list[Shift]) -> CodeType:
    """Compile rewritten `text`, reporting positions of the original file."""
    tree = ast.parse(text, filename)
    anchors = _generated_lines(tree)
    added = sorted(anchors)

    def user_line(line: int) -> int:
        if line in anchors:
            return user_line(anchors[line])
        return line - bisect_left(added, line)

    by_line: dict[int, list[Shift]] = {}
    for shift in shifts:
        by_line.setdefault(shift.line, []).append(shift)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id.startswith(HANDLE_PREFIX):
            node.id = HIDDEN_PREFIX + node.id[len(HANDLE_PREFIX):]
        if not hasattr(node, "lineno") or node.lineno is None:
            continue
        generated = node.lineno in anchors
        node.lineno = user_line(node.lineno)
        node.end_lineno = user_line(node.end_lineno or node.lineno)
        if generated:
            node.end_lineno = node.lineno
            node.end_col_offset = node.col_offset
            continue
        for shift in by_line.get(node.lineno, ()):
            if node.col_offset >= shift.column:
                node.col_offset -= shift.delta
        for shift in by_line.get(node.end_lineno, ()):
            if node.end_col_offset is not None and node.end_col_offset >= shift.column:
                node.end_col_offset -= shift.delta
    return compile(tree, filename, "exec", dont_inherit=True)


def _generated_lines(tree: ast.Module) -> dict[int, int]:
    """Each line of a generated statement → the first line of the block it follows."""
    anchors: dict[int, int] = {}
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            statements = getattr(node, name, None)
            if not isinstance(statements, list):
                continue
            anchor = None
            for statement in statements:
                if anchor is not None and _is_generated(statement):
                    for line in range(statement.lineno, statement.end_lineno + 1):
                        anchors[line] = anchor
                elif isinstance(statement, ast.With):
                    anchor = statement.lineno
                else:
                    anchor = None
    return anchors


def _is_generated(statement: ast.stmt) -> bool:
    """The restore `if __psflow_bN.replaying:` and `del __psflow_bN` that follow a block."""
    if isinstance(statement, ast.If):
        test = statement.test
        return (
            isinstance(test, ast.Attribute)
            and isinstance(test.value, ast.Name)
            and test.value.id.startswith(HANDLE_PREFIX)
            and test.attr == "replaying"
        )
    if isinstance(statement, ast.Delete):
        return all(isinstance(t, ast.Name) and t.id.startswith(HANDLE_PREFIX) for t in statement.targets)
    return False
