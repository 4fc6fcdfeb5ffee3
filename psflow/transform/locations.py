"""Compile rewritten source so that every position is the user's own.

The rewrite adds whole statements after blocks (restores, repeated exits) and
inserts text into a few user lines (shorthand headers, the `.at(…)` of a block
header, `return X` → `return h.returning(X)`, `h.leaving(…); break`). Here the
AST of the rewritten text is walked once: added lines are folded onto their
block's header, later lines move back up, inserted text is taken out of the
columns, and block handles get names no user code can spell (`__@psflow_b1__`, as
pytest does with `@py_assert1`), which also keeps them out of class-private name
mangling.

Columns are kept as str indices (characters) while mapping, as tokenize and
libcst count them; the AST counts UTF-8 bytes, so lines with insertions are
converted at the edges.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from types import CodeType
from typing import Any, cast

from psflow.transform.diagnostics import Diagnostic

HANDLE_PREFIX = "__psflow_b"
HIDDEN_PREFIX = "__@psflow_b"  # and "__" after the number: dunder-shaped, see _hidden
_HANDLE = re.compile(r"__psflow_b\d+")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _hidden(handle: str) -> str:
    """`__@psflow_b1__` for `__psflow_b1`: a name no user code can spell, which a class body binds
    while its block runs. Dunder-shaped, so that namespaces that inspect what a class body binds
    take it for an attribute, not a member or a field (Enum, Flag and `auto()`), and nothing mangles it."""
    return f"{HIDDEN_PREFIX}{handle[len(HANDLE_PREFIX) :]}__"


def split_lines(text: str) -> list[str]:
    """`text`'s lines as the parser counts them (\\n, \\r\\n, \\r; not str.splitlines' \\f or \\u2028)."""
    return _LINE.findall(text)


def located(diagnostics: Iterable[Diagnostic], source: str, shorthand: Layer | None = None) -> list[Diagnostic]:
    """`diagnostics` with the user's line text, their columns moved back through the shorthand pass if given."""
    lines = split_lines(source)
    found = []
    for diagnostic in diagnostics:
        line, column = diagnostic.line, diagnostic.column
        if lines and not 0 < line <= len(lines):  # "unexpected EOF" and the like: the last line
            line, column = len(lines), len(lines[-1].rstrip("\r\n")) + 1
        elif shorthand is not None:
            column = shorthand.column(line, column - 1) + 1
        text = lines[line - 1].rstrip("\r\n") if lines else ""
        found.append(replace(diagnostic, line=line, column=column, source_line=text))
    return found


def is_handle(name: str) -> bool:
    """Is `name` a block handle made by the rewriter (`__psflow_b3`)?"""
    return _HANDLE.fullmatch(name) is not None


@dataclass(frozen=True)
class Insertion:
    """`length` characters a pass put at character `column` of `line` of the text it was given.

    A tentative insertion is the indentation a retried block's body gets: libcst adds
    it to every line it indents, but not to lines inside a multi-line string (and a
    few others it copies), so `Layer.settled` keeps it where the line's text shows it.
    """

    line: int
    column: int
    length: int
    tentative: bool = False


class Layer:
    """One pass's insertions, by line of its input: maps its output columns back to its input columns."""

    def __init__(self, insertions: Iterable[Insertion] = ()) -> None:
        self._firm: dict[int, list[Insertion]] = {}
        self.tentative: dict[int, list[Insertion]] = {}
        for insertion in insertions:
            if insertion.tentative:
                self.tentative.setdefault(insertion.line, []).append(insertion)
            elif insertion.length > 0:
                self._firm.setdefault(insertion.line, []).append(insertion)
        # Where the inserted text sits in each output line: [start, end) character columns, in order.
        self._by_line = {line: _spans(insertions) for line, insertions in self._firm.items()}

    def settled(self, holds: Callable[[int, Layer], bool]) -> Layer:
        """This layer with each line's tentative insertions made firm where `holds(line, layer with them)`,
        and dropped elsewhere."""
        firm = [insertion for insertions in self._firm.values() for insertion in insertions]
        for line, candidates in self.tentative.items():
            made_firm = [replace(insertion, tentative=False) for insertion in candidates]
            if holds(line, Layer([*self._firm.get(line, ()), *made_firm])):
                firm.extend(made_firm)
        return Layer(firm)

    def __contains__(self, line: int) -> bool:
        return line in self._by_line

    def lines(self) -> frozenset[int]:
        """The lines that have inserted text."""
        return frozenset(self._by_line)

    def undo(self, line: int, text: str) -> str:
        """Output line `text` without the inserted text: the line this pass was given."""
        for start, end in reversed(self._by_line.get(line, ())):
            text = text[:start] + text[end:]
        return text

    def column(self, line: int, column: int) -> int:
        """The input column of output `column`; a column inside inserted text maps to where it was inserted."""
        removed = 0
        for start, end in self._by_line.get(line, ()):
            if column < start:
                break
            if column < end:
                return start - removed
            removed += end - start
        return column - removed


def _spans(insertions: list[Insertion]) -> list[tuple[int, int]]:
    """Where `insertions` (into one line) sit in the output line. Text inserted at one column is one run,
    so the order of insertions at the same column does not matter."""
    spans, offset = [], 0
    for insertion in sorted(insertions, key=lambda insertion: insertion.column):
        start = insertion.column + offset
        spans.append((start, start + insertion.length))
        offset += insertion.length
    return spans


def compile_mapped(text: str, filename: str, source: str, rewrite: Layer, shorthand: Layer) -> CodeType:
    """Compile rewritten `text`, reporting lines and columns of `source` (the user's file)."""
    return compile(mapped_tree(text, filename, source, rewrite, shorthand), filename, "exec", dont_inherit=True)


def mapped_tree(text: str, filename: str, source: str, rewrite: Layer, shorthand: Layer) -> ast.Module:
    """The AST of rewritten `text`, its positions moved to `source`'s lines and columns.

    `shorthand` holds what the shorthand pass inserted, `rewrite` what the rewriter
    inserted into user lines, both by line of `source` (neither pass moves a user
    line to another). Lines only ever move through the statements added after blocks.
    """
    tree = ast.parse(text, filename)
    anchors = _generated_lines(tree)
    added = sorted(anchors)
    text_lines, user_lines = split_lines(text), split_lines(source)

    def user_line(line: int) -> int:
        while line in anchors:
            line = anchors[line][0]
        return line - bisect_left(added, line)

    if rewrite.tentative:
        text_line = {user_line(line): line for line in range(1, len(text_lines) + 1) if line not in anchors}

        def is_users(user: int, layer: Layer) -> bool:
            """Does `layer` take out all that was added to line `user`? Then it is as long as the user's line
            (the text may differ: the shorthand turns `block "N"`'s blank into a parenthesis)."""
            undone = shorthand.undo(user, layer.undo(user, text_lines[text_line[user] - 1]))
            return len(undone.rstrip("\r\n")) == len(user_lines[user - 1].rstrip("\r\n"))

        rewrite = rewrite.settled(is_users)

    def column(line: int, offset: int) -> int:
        user = user_line(line)
        if user not in rewrite and user not in shorthand:  # the usual case: nothing inserted
            return offset
        mapped = rewrite.column(user, _char_column(text_lines[line - 1], offset))
        return len(user_lines[user - 1][: shorthand.column(user, mapped)].encode())

    for walked in ast.walk(tree):
        if isinstance(walked, ast.Name) and is_handle(walked.id):
            walked.id = _hidden(walked.id)
        if getattr(walked, "lineno", None) is None:
            continue
        node: Any = walked  # a located node: expr, stmt, arg, keyword, alias, pattern, …
        start, start_column = node.lineno, node.col_offset
        end, end_column = node.end_lineno or start, node.end_col_offset
        if start in anchors:  # generated: an empty range at the start of its block's header
            start, start_column = anchors[start][:2]
            end, end_column = start, start_column
        while end in anchors:  # a user statement whose body ends with a block ends where the block does
            end, end_column = anchors[end][2:]
        node.lineno, node.col_offset = user_line(start), column(start, start_column)
        node.end_lineno = user_line(end)
        if end_column is not None:
            node.end_col_offset = column(end, end_column)
    return tree


def _char_column(line: str, byte_offset: int) -> int:
    if line.isascii():
        return byte_offset
    return len(line.encode()[:byte_offset].decode(errors="ignore"))


def _generated_lines(tree: ast.Module) -> dict[int, tuple[int, int, int, int]]:
    """Each line of a generated statement → where the block (`with`) it belongs to starts and ends."""
    anchors: dict[int, tuple[int, int, int, int]] = {}
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            statements = getattr(node, name, None)
            if not isinstance(statements, list):
                continue
            anchor: tuple[int, int, int, int] | None = None
            for statement in statements:
                if anchor is not None and _is_generated(statement):
                    _anchor_lines(anchors, statement, anchor)
                elif isinstance(statement, ast.With):
                    anchor = _block_anchor(anchors, statement)
                else:
                    anchor = None
    return anchors


def _block_anchor(anchors: dict[int, tuple[int, int, int, int]], block: ast.With) -> tuple[int, int, int, int]:
    """Where `block` starts and ends in the user's text; a retried block's loop lines are anchored to it."""
    loop = block.body[0]
    if not _is_retry_loop(loop):
        return (block.lineno, block.col_offset, block.end_lineno or block.lineno, block.end_col_offset or 0)
    trying = cast(ast.While, loop).body[0]  # `with h.trying():`, around the user's body
    anchor = (block.lineno, block.col_offset, trying.end_lineno or trying.lineno, trying.end_col_offset or 0)
    anchors[loop.lineno] = anchors[trying.lineno] = anchor
    for again in block.body[1:]:  # `if h.exit == 'break': break`
        _anchor_lines(anchors, again, anchor)
    return anchor


def _anchor_lines(
    anchors: dict[int, tuple[int, int, int, int]], statement: ast.stmt, anchor: tuple[int, int, int, int]
) -> None:
    for line in range(statement.lineno, (statement.end_lineno or statement.lineno) + 1):
        anchors[line] = anchor


def _is_retry_loop(statement: ast.stmt) -> bool:
    """`while __psflow_bN.next_try():`, the first statement of a retried block."""
    if not isinstance(statement, ast.While) or not isinstance(statement.test, ast.Call):
        return False
    func = statement.test.func
    return isinstance(func, ast.Attribute) and func.attr == "next_try" and _is_handle_name(func.value)


def _is_handle_name(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and is_handle(node.id)


def _is_generated(statement: ast.stmt) -> bool:
    """The restore `if __psflow_bN.replaying:` and `del __psflow_bN` that follow a block."""
    if isinstance(statement, ast.If):
        test = statement.test
        return isinstance(test, ast.Attribute) and _is_handle_name(test.value) and test.attr == "replaying"
    if isinstance(statement, ast.Delete):
        return all(_is_handle_name(target) for target in statement.targets)
    return False
