"""Wrap statements of real code (the standard library) in psflow blocks.

Used by test_stdlib.py: top-level statements, function bodies and loop bodies
each become `with block("wN"):` — code nobody here wrote, to feed the transformer.
"""

from __future__ import annotations

import libcst as cst


class BlockWrapper(cst.CSTTransformer):
    """Puts statements into blocks; skips what may not move (docstrings, __future__ imports)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _wrap(self, body: cst.BaseSuite) -> cst.BaseSuite:
        if not isinstance(body, cst.IndentedBlock):
            return body
        statements = list(body.body)
        keep = 1 if statements and _is_docstring(statements[0]) else 0
        movable = statements[keep:]
        if not movable or any(_is_future(s) for s in movable):
            return body
        self.count += 1
        block = cst.With(
            items=[cst.WithItem(cst.Call(cst.Name("block"), [cst.Arg(cst.SimpleString(f'"w{self.count}"'))]))],
            body=cst.IndentedBlock(movable),
        )
        return body.with_changes(body=[*statements[:keep], block])

    def leave_FunctionDef(self, original_node, updated_node):
        return updated_node.with_changes(body=self._wrap(updated_node.body))

    def leave_For(self, original_node, updated_node):
        return updated_node.with_changes(body=self._wrap(updated_node.body))

    def leave_While(self, original_node, updated_node):
        return updated_node.with_changes(body=self._wrap(updated_node.body))

    def leave_Module(self, original_node, updated_node):
        wrapped = []
        for index, statement in enumerate(updated_node.body):
            if (
                (index == 0 and _is_docstring(statement))
                or _is_future(statement)
                or isinstance(statement, (cst.FunctionDef, cst.ClassDef))
            ):
                wrapped.append(statement)
                continue
            self.count += 1
            wrapped.append(
                cst.With(
                    items=[cst.WithItem(cst.Call(cst.Name("block"), [cst.Arg(cst.SimpleString(f'"w{self.count}"'))]))],
                    body=cst.IndentedBlock([statement]),
                    leading_lines=statement.leading_lines,
                )
            )
        return updated_node.with_changes(body=wrapped)


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_future(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(s, cst.ImportFrom) and isinstance(s.module, cst.Name) and s.module.value == "__future__"
        for s in statement.body
    )


def wrap_source(source: str) -> tuple[str, int]:
    """`source` with its statements in blocks, and how many blocks (libcst errors for code it cannot parse)."""
    wrapper = BlockWrapper()
    return cst.parse_module(source).visit(wrapper).code, wrapper.count
