"""The libcst rewrite of each planned `with block(NAME):` into a skippable, replayable block.

    with block("Step1"):                 with block("Step1").at(3, ("rows",), ()) as __psflow_b1, __psflow_b1.body():
        rows = run_sql()         ──►         rows = run_sql()
                                         if __psflow_b1.replaying:
                                             if "rows" in __psflow_b1.saved: rows = __psflow_b1.saved["rows"]

`body()` raises Skip when the block already completed; the block's own
`__exit__` swallows it. The names the body binds are then given back in the same
scope, so Python's own scoping (locals, globals, cells) is kept. Exits by
`return`, `break` and `continue` are marked so they can be repeated on replay.

A block with `retries=` gets its body run in a loop, two levels deeper:

    with block("Fetch", retries=3) …:    while __psflow_b1.next_try():
        rows = fetch()           ──►         with __psflow_b1.trying():
                                                 rows = fetch()
                                         if __psflow_b1.exit == 'break': break

`trying()` swallows a failure that has tries left. A `break` or `continue` in
the body ends that loop instead of the user's (the try counts as done), so it is
issued again after it, as the marks on the block say.

Everything it needs to know (which blocks, what they bind, which exits leave
which blocks) is in the plan: it analyses nothing itself.
"""

from __future__ import annotations

from typing import Iterable, cast

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from psflow.transform.locations import Region
from psflow.transform.plan import BlockPlan, ScriptPlan


def rewrite(module: cst.Module, plan: ScriptPlan) -> tuple[cst.Module, list[Region]]:
    """`module` with every block of `plan` written out, and where new text sits inside user lines."""
    rewriter = BlockRewriter(plan)
    rewritten = module.visit(rewriter)
    return rewritten, rewriter.inserted_regions(rewritten)


class BlockRewriter(cst.CSTTransformer):
    """Writes out the blocks of a plan made from the module it visits."""

    def __init__(self, plan: ScriptPlan) -> None:
        super().__init__()
        self.plan = plan
        # Text put inside user lines, as (kind, first generated node, last node): see inserted_regions().
        self._insertions: list[tuple[str, cst.CSTNode, cst.CSTNode]] = []
        self._blocks = {block.node: block for block in plan.blocks}

    # ---- blocks -----------------------------------------------------------

    def leave_With(
        self, original_node: cst.With, updated_node: cst.With
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        block = self._blocks.get(original_node)
        if block is None:
            return updated_node
        index = block.index
        keys = {name: block.scope.mangle(name) for name in block.effects.binds}
        args = [
            cst.Arg(cst.Integer(str(block.line))),
            cst.Arg(_str_tuple(keys.values())),
            cst.Arg(_str_tuple(block.scope.mangle(name) for name in block.effects.mutates)),
        ]
        if block.site is not None:  # the 4th argument: `.at(3, ('rows',), (), '5f2c…')`
            args.append(cst.Arg(cst.SimpleString(repr(block.site.fingerprint))))
        item = updated_node.items[index]
        at_call = cst.Call(func=cst.Attribute(value=item.item, attr=cst.Name("at")), args=args)
        new_items = [
            cst.WithItem(item=at_call, asname=cst.AsName(name=cst.Name(block.handle)), comma=_comma()),
            cst.WithItem(item=_call(block.handle, "body"), asname=item.asname, comma=item.comma),
        ]
        self._insertions.append(("header", at_call.func, new_items[1].item))
        items = list(updated_node.items)
        items[index : index + 1] = new_items
        rewritten = updated_node.with_changes(items=items)
        if block.retried:  # then the body is indented (psflow.transform.rules.block_calls)
            body = self._retry_loop(block, cast(cst.IndentedBlock, rewritten.body))
            rewritten = rewritten.with_changes(body=body)
        trailer = self._replay_code(block, keys, item.asname)
        if not trailer:
            return rewritten
        return cst.FlattenSentinel([rewritten, *trailer])

    def _retry_loop(self, block: BlockPlan, body: cst.IndentedBlock) -> cst.IndentedBlock:
        """`body` inside `while h.next_try(): with h.trying():`, then its `break`/`continue` issued again."""
        inner = body.with_changes(header=cst.TrailingWhitespace())
        trying = cst.With(items=[cst.WithItem(_call(block.handle, "trying"))], body=inner)
        loop = cst.While(test=_call(block.handle, "next_try"), body=cst.IndentedBlock([trying], indent=body.indent))
        again: list[cst.BaseStatement] = [
            cst.If(
                test=cst.parse_expression(f"{block.handle}.exit == {kind!r}"),
                body=cst.SimpleStatementSuite([cst.Break() if kind == "break" else cst.Continue()]),
            )
            for kind in ("break", "continue")
            if kind in block.exits
        ]
        self._insertions.append(("indent", loop, trying))
        return cst.IndentedBlock([loop, *again], header=body.header, indent=body.indent)

    def _replay_code(
        self, block: BlockPlan, keys: dict[str, str], asname: cst.AsName | None
    ) -> list[cst.BaseStatement]:
        """Statements after the block: give back its names and annotations, and repeat its exit."""
        handle = block.handle
        body: list[cst.BaseStatement] = []
        if asname is not None:  # `block "N" as b:` binds the handle, replayed or not
            target = cst.AssignTarget(asname.name.deep_clone())
            body.append(cst.SimpleStatementLine([cst.Assign([target], cst.Name(handle))]))
        for name, key in keys.items():
            text = f"if {key!r} in {handle}.saved: {name} = {handle}.saved[{key!r}]\n"
            if name in block.effects.deletes:
                text += f"elif {handle}.bound({key!r}): del {name}\n"
            body.append(cst.parse_statement(text))
        if block.scope.kind != "function" and block.effects.annotations:
            body.extend(_annotations(handle, block.effects.annotations, guard=bool(block.exits)))
        for kind in ("return", "break", "continue"):
            if kind in block.exits:
                body.append(
                    cst.If(
                        test=cst.parse_expression(f"{handle}.exit == {kind!r}"),
                        body=cst.SimpleStatementSuite(_exit_again(kind, block)),
                    )
                )
        statements: list[cst.BaseStatement] = []
        if body:
            statements.append(
                cst.If(test=cst.parse_expression(f"{handle}.replaying"), body=cst.IndentedBlock(body))
            )
        if block.scope.kind == "class":  # a handle must not stay behind as a class attribute
            statements.append(cst.parse_statement(f"del {handle}\n"))
        return statements

    # ---- exits inside blocks ----------------------------------------------

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        left = self.plan.exits.get(original_node)
        if left is None:
            return updated_node
        value: cst.BaseExpression = updated_node.value if updated_node.value is not None else cst.Name("None")
        calls = []
        for block in reversed(left):
            value = _call(block.handle, "returning", value)
            calls.append(value)
        whitespace = updated_node.whitespace_after_return
        spaced = updated_node.value is None or not getattr(whitespace, "value", " ")  # `return(x)` has no blank
        if spaced:
            whitespace = cst.SimpleWhitespace(" ")
        returned = updated_node.with_changes(value=value, whitespace_after_return=whitespace)
        if updated_node.value is None:  # all of ` h.returning(None)` is new
            self._insertions.append(("bare return", returned, value))
        else:  # the blank added after `return(` is new text too
            self._insertions.append(("spaced return" if spaced else "return", value, calls[0]))
        return returned

    def leave_Break(
        self, original_node: cst.Break, updated_node: cst.Break
    ) -> cst.BaseSmallStatement | cst.FlattenSentinel[cst.BaseSmallStatement]:
        return self._leave_loop_exit("break", original_node, updated_node)

    def leave_Continue(
        self, original_node: cst.Continue, updated_node: cst.Continue
    ) -> cst.BaseSmallStatement | cst.FlattenSentinel[cst.BaseSmallStatement]:
        return self._leave_loop_exit("continue", original_node, updated_node)

    def _leave_loop_exit(
        self, kind: str, original_node: cst.BaseSmallStatement, updated_node: cst.BaseSmallStatement
    ) -> cst.BaseSmallStatement | cst.FlattenSentinel[cst.BaseSmallStatement]:
        left = self.plan.exits.get(original_node)
        if left is None:
            return updated_node
        marks = _leaving(kind, left)
        self._insertions.append(("leaving", marks[0], updated_node))
        return cst.FlattenSentinel([*marks, updated_node])

    # ---- where text went into user lines ------------------------------------

    def inserted_regions(self, module: cst.Module) -> list[Region]:
        """Where, in the rewritten `module`'s text, new text sits inside user lines.

        Read from positions in the rewritten tree itself, so they are right however
        libcst lays the generated nodes out.
        """
        if not self._insertions:
            return []
        positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        regions = []
        for kind, first, last in self._insertions:
            start, end = positions[first].start, positions[last].end
            if kind == "header":  # `.at(…) as h, h.body()` after the user's `block(NAME)`
                at = positions[first.attr].start  # type: ignore[attr-defined]
                regions.append(Region(at.line, at.column - 1, end.column))
            elif kind in ("return", "spaced return"):  # `h1.returning(h2.returning(` … `))` around the value
                opening = positions[last.func.attr].end  # type: ignore[attr-defined]
                blank = 1 if kind == "spaced return" else 0
                regions.append(Region(start.line, start.column - blank, opening.column + 1))
                outer_end = positions[first].end
                regions.append(Region(outer_end.line, end.column - 1, outer_end.column))
            elif kind == "indent":  # a retried body: two indentation levels more on each line libcst indents
                width = 2 * (positions[last].start.column - start.column)  # the `with`'s indent under the `while`
                regions.extend(
                    Region(line, start.column, start.column + width, tentative=True)
                    for line in range(positions[last].start.line + 1, end.line + 1)
                )
            elif kind == "bare return":  # `return` → `return h.returning(None)`
                regions.append(Region(start.line, start.column + len("return"), end.column))
            else:  # `h.leaving('break'); ` before `break`
                regions.append(Region(start.line, start.column, positions[last].start.column))
        return regions


def _exit_again(kind: str, block: BlockPlan) -> list[cst.BaseSmallStatement]:
    """`return`/`break`/`continue` as repeated on replay after `block`, through the blocks it leaves."""
    if kind == "return":
        return [cst.Return(value=_returning(block.enclosing, cst.parse_expression(f"{block.handle}.returned")))]
    return [*_leaving(kind, block.left_by_loop_exits()), cst.Break() if kind == "break" else cst.Continue()]


def _returning(blocks: Iterable[BlockPlan], value: cst.BaseExpression) -> cst.BaseExpression:
    """`h1.returning(h2.returning(value))`: the value handed to each block left, innermost first."""
    for block in reversed(tuple(blocks)):
        value = _call(block.handle, "returning", value)
    return value


def _leaving(kind: str, blocks: Iterable[BlockPlan]) -> list[cst.BaseSmallStatement]:
    """`h2.leaving('break'); h1.leaving('break'); `: each block left is told how, innermost first."""
    return [
        cst.Expr(
            _call(block.handle, "leaving", cst.SimpleString(repr(kind))),
            semicolon=cst.Semicolon(whitespace_after=cst.SimpleWhitespace(" ")),
        )
        for block in reversed(tuple(blocks))
    ]


def _annotations(
    handle: str, annotations: list[tuple[str, cst.BaseExpression]], guard: bool
) -> list[cst.BaseStatement]:
    """A skipped `x: T = v` must still land in `__annotations__` (dataclass fields, in order).

    They sit directly in the body, so they ran if it ended normally; with `break`
    or `continue` about, only then (one before an early exit is missed).
    """
    statements: list[cst.BaseStatement] = [
        cst.SimpleStatementLine([cst.AnnAssign(cst.Name(name), cst.Annotation(annotation.deep_clone()))])
        for name, annotation in annotations
    ]
    if not guard:
        return statements
    return [cst.If(test=cst.parse_expression(f"{handle}.exit == 'normal'"), body=cst.IndentedBlock(statements))]


def _call(handle: str, method: str, *args: cst.BaseExpression) -> cst.Call:
    return cst.Call(
        func=cst.Attribute(value=cst.Name(handle), attr=cst.Name(method)),
        args=[cst.Arg(arg) for arg in args],
    )


def _comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _str_tuple(names: Iterable[str]) -> cst.Tuple:
    elements = [cst.Element(cst.SimpleString(repr(name))) for name in names]
    if len(elements) == 1:
        return cst.Tuple(elements=[elements[0].with_changes(comma=cst.Comma())])
    return cst.Tuple(elements=elements)
