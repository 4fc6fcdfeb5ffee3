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
which blocks, where each node was) is in the plan: it analyses nothing itself.
Where it puts text into a user line, it records an Insertion at the plan's
position of the node it writes next to, for psflow.transform.locations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import libcst as cst
from libcst.metadata import CodePosition

from psflow.transform.locations import Insertion
from psflow.transform.matchers import code_of
from psflow.transform.plan import BlockPlan, ScriptPlan


def rewrite(module: cst.Module, plan: ScriptPlan) -> tuple[cst.Module, list[Insertion]]:
    """`module` with every block of `plan` written out, and the text that went into user lines."""
    rewriter = BlockRewriter(plan)
    return module.visit(rewriter), rewriter.insertions


class BlockRewriter(cst.CSTTransformer):
    """Writes out the blocks of a plan made from the module it visits."""

    def __init__(self, plan: ScriptPlan) -> None:
        super().__init__()
        self.plan = plan
        self.insertions: list[Insertion] = []  # by line and column of the text the plan was made from
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
        if block.effects.given:  # `given=('server',)`: watched too, without a word if psflow cannot read them
            names = _str_tuple(block.scope.mangle(name) for name in block.effects.given)
            args.append(cst.Arg(names, keyword=cst.Name("given"), equal=_TIGHT))
        item = updated_node.items[index]
        at_call = cst.Call(func=cst.Attribute(value=item.item, attr=cst.Name("at")), args=args)
        new_items = [
            cst.WithItem(item=at_call, asname=cst.AsName(name=cst.Name(block.handle)), comma=_comma()),
            cst.WithItem(item=_call(block.handle, "body"), asname=item.asname, comma=item.comma),
        ]
        # `.at(…) as h, h.body()` goes right after the user's `block(NAME)`.
        self._insert(_end(self.plan, block.call), sum(map(_width, new_items)) - _width(item))
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
        self._indent_body(block)
        return cst.IndentedBlock([loop, *again], header=body.header, indent=body.indent)

    def _indent_body(self, block: BlockPlan) -> None:
        """Each line of a retried body gets two indentation levels more: tentatively, as libcst does not
        indent every line (not those inside a multi-line string, say)."""
        body = cast(cst.IndentedBlock, block.node.body)
        width = len(body.indent if body.indent is not None else self.plan.default_indent)
        column = self.plan.positions[block.node].start.column + width  # where the body's own lines start
        first = self.plan.positions[body.header].end.line  # the line after the header's newline
        last = self.plan.positions[body].end.line
        self.insertions.extend(Insertion(line, column, 2 * width, tentative=True) for line in range(first, last + 1))

    def _replay_code(
        self, block: BlockPlan, keys: dict[str, str], asname: cst.AsName | None
    ) -> list[cst.BaseStatement]:
        """Statements after the block: give back its names and annotations, and repeat its exit."""
        handle = block.handle
        body: list[cst.BaseStatement] = []
        if asname is not None:  # `block "N" as b:` binds the handle, replayed or not
            target = cst.AssignTarget(asname.name.deep_clone())
            body.append(cst.SimpleStatementLine([cst.Assign([target], cst.Name(handle))]))
        # Its imports run again first: the modules its saved values refer to are loaded then.
        body.extend(cst.SimpleStatementLine([statement.deep_clone()]) for statement in block.effects.imports)
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
            statements.append(cst.If(test=cst.parse_expression(f"{handle}.replaying"), body=cst.IndentedBlock(body)))
        # The handle does not stay behind: not as a class attribute, nor in locals(), globals() or dir().
        statements.append(cst.parse_statement(f"del {handle}\n"))
        return statements

    # ---- exits inside blocks ----------------------------------------------

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        left = self.plan.exits.get(original_node)
        if left is None:
            return updated_node
        value: cst.BaseExpression = updated_node.value if updated_node.value is not None else cst.Name("None")
        returned = _returning(left, value)
        whitespace = updated_node.whitespace_after_return
        spaced = updated_node.value is None or not getattr(whitespace, "value", " ")  # `return(x)` has no blank
        if spaced:
            whitespace = cst.SimpleWhitespace(" ")
        opening = sum(len(f"{block.handle}.returning(") for block in left)
        if original_node.value is None:  # all of ` h.returning(None)` is new
            start = self.plan.positions[original_node].start
            self._insert(CodePosition(start.line, start.column + len("return")), 1 + opening + len("None") + len(left))
        else:  # `h1.returning(h2.returning(` before the value (and the blank `return(` lacked), `))` after it
            self._insert(_start(self.plan, original_node.value), int(spaced) + opening)
            self._insert(_end(self.plan, original_node.value), len(left))
        return updated_node.with_changes(value=returned, whitespace_after_return=whitespace)

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
        self._insert(self.plan.positions[original_node].start, sum(map(_width, marks)))  # `h.leaving(…); `
        return cst.FlattenSentinel([*marks, updated_node])

    def _insert(self, position: CodePosition, length: int) -> None:
        self.insertions.append(Insertion(position.line, position.column, length))


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


def _start(plan: ScriptPlan, node: cst.BaseExpression) -> CodePosition:
    """Where `node` starts, its parentheses included."""
    return plan.positions[node.lpar[0] if node.lpar else node].start


def _end(plan: ScriptPlan, node: cst.BaseExpression) -> CodePosition:
    """Where `node` ends, its parentheses included."""
    return plan.positions[node.rpar[-1] if node.rpar else node].end


def _width(node: cst.CSTNode) -> int:
    return len(code_of(node))


def _call(handle: str, method: str, *args: cst.BaseExpression) -> cst.Call:
    return cst.Call(
        func=cst.Attribute(value=cst.Name(handle), attr=cst.Name(method)),
        args=[cst.Arg(arg) for arg in args],
    )


_TIGHT = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def _comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _str_tuple(names: Iterable[str]) -> cst.Tuple:
    elements = [cst.Element(cst.SimpleString(repr(name))) for name in names]
    if len(elements) == 1:
        return cst.Tuple(elements=[elements[0].with_changes(comma=cst.Comma())])
    return cst.Tuple(elements=elements)
