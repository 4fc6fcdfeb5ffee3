"""The libcst rewrite of each `with block(NAME):` into a skippable, replayable block.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider

from psflow.transform.analysis import BodyEffects, analyse_body
from psflow.transform.diagnostics import Diagnostic
from psflow.transform.locations import HANDLE_PREFIX, Region
from psflow.transform.matchers import is_block_call, is_negative, literal_kind

@dataclass
class _Block:
    handle: str
    retried: bool = False  # has `retries=`: its body runs in a retry loop
    exits: set[str] = field(default_factory=set)


@dataclass
class _Scope:
    """A function, class or module body: its open blocks and enclosing loops."""

    kind: str  # "module", "function" or "class"
    class_name: str | None
    blocks: list[_Block] = field(default_factory=list)
    loops: list[int] = field(default_factory=list)  # len(blocks) when each loop began


class BlockRewriter(cst.CSTTransformer):
    """Rewrites every psflow block; collects diagnostics instead of raising."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(
        self, filename: str, shorthand_lines: frozenset[int] = frozenset(), fingerprints: dict[int, str] | None = None
    ) -> None:
        super().__init__()
        self.filename = filename
        self.shorthand_lines = shorthand_lines  # where `block "N":` headers were expanded
        self.fingerprints = fingerprints or {}  # block line → fingerprint of its code (psflow.transform.check)
        self.diagnostics: list[Diagnostic] = []  # positions in the text this rewriter was given
        self.block_count = 0
        # Text put inside user lines, as (kind, first generated node, last node): see inserted_regions().
        self._insertions: list[tuple[str, cst.CSTNode, cst.CSTNode]] = []
        self._scopes = [_Scope("module", class_name=None)]
        self._open: dict[cst.With, _Block] = {}

    # ---- scopes and loops -------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._scopes.append(_Scope("function", class_name=self._scopes[-1].class_name))

    def leave_FunctionDef(self, original_node, updated_node):
        self._scopes.pop()
        return updated_node

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._scopes.append(_Scope("class", class_name=node.name.value))

    def leave_ClassDef(self, original_node, updated_node):
        self._scopes.pop()
        return updated_node

    def _enter_loop(self, node: cst.CSTNode) -> None:
        scope = self._scopes[-1]
        scope.loops.append(len(scope.blocks))

    def _leave_loop(self, node: cst.CSTNode) -> None:
        self._scopes[-1].loops.pop()

    # Only the loop body is "in" the loop: `break` in its `else` leaves the outer one.
    visit_For_body = visit_While_body = _enter_loop
    leave_For_body = leave_While_body = _leave_loop

    # ---- blocks -----------------------------------------------------------

    def visit_With(self, node: cst.With) -> None:
        positions = [i for i, item in enumerate(node.items) if self._is_block_call(item.item)]
        if not positions:
            if self._position(node).start.line in self.shorthand_lines:
                self._error(
                    node,
                    "`block` here is a name of this script, not psflow's: rename it to use `block \"Name\":`",
                    fix="rename the script's own `block`, so that `block \"Name\":` is psflow's",
                    fix_when_raised="omitted",
                )
            return
        if len(positions) > 1:
            self._error(node.items[positions[1]].item, "one block per `with` statement", fix="nest them instead")
            return
        if node.asynchronous is not None:
            self._error(node, "`async with block(...)` is not supported", fix="use a plain `with`")
            return
        call = cast(cst.Call, node.items[positions[0]].item)
        if not self._check_call(call):
            return
        retried = any(arg.keyword is not None and arg.keyword.value == "retries" for arg in call.args)
        if retried and not isinstance(node.body, cst.IndentedBlock):
            self._error(
                node.body,
                "a block with retries needs its body on the lines below the `with`",
                fix="put the body on its own indented lines",
                fix_when_raised="omitted",
            )
            return
        self.block_count += 1
        block = _Block(handle=f"{HANDLE_PREFIX}{self.block_count}", retried=retried)
        self._open[node] = block
        self._scopes[-1].blocks.append(block)

    def leave_With(self, original_node: cst.With, updated_node: cst.With):
        block = self._open.pop(original_node, None)
        if block is None:
            return updated_node
        scope = self._scopes[-1]
        scope.blocks.pop()
        index = next(i for i, item in enumerate(original_node.items) if self._is_block_call(item.item))
        later_items = list(original_node.items[index + 1:])
        effects = analyse_body([*later_items, original_node.body])
        for construct in effects.unsupported:
            self._error(construct.node, construct.message, fix=construct.fix)
        keys = {name: self._mangle(name) for name in effects.binds}
        line = self._position(original_node).start.line
        at_call = cst.Call(
            func=cst.Attribute(value=updated_node.items[index].item, attr=cst.Name("at")),
            args=[
                cst.Arg(cst.Integer(str(line))),
                cst.Arg(_str_tuple(keys.values())),
                cst.Arg(_str_tuple(self._mangle(n) for n in effects.mutates)),
            ],
        )
        if line in self.fingerprints:  # the 4th argument: `.at(3, ('rows',), (), '5f2c…')`
            fingerprint = cst.Arg(cst.SimpleString(repr(self.fingerprints[line])))
            at_call = at_call.with_changes(args=[*at_call.args, fingerprint])
        original_item = updated_node.items[index]
        body_call = _call(block.handle, "body")
        items = list(updated_node.items)
        items[index : index + 1] = [
            cst.WithItem(item=at_call, asname=cst.AsName(name=cst.Name(block.handle)), comma=_comma()),
            cst.WithItem(item=body_call, asname=original_item.asname, comma=original_item.comma),
        ]
        self._insertions.append(("header", at_call.func, body_call))
        rewritten = updated_node.with_changes(items=items)
        if block.retried:
            rewritten = rewritten.with_changes(body=self._retry_loop(block, cast(cst.IndentedBlock, rewritten.body)))
        trailer = self._replay_code(block, keys, effects, scope, original_item.asname)
        if not trailer:
            return rewritten
        return cst.FlattenSentinel([rewritten, *trailer])

    def _retry_loop(self, block: _Block, body: cst.IndentedBlock) -> cst.IndentedBlock:
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
        self, block: _Block, keys: dict[str, str], effects: BodyEffects, scope: _Scope, asname: cst.AsName | None
    ) -> list[cst.BaseStatement]:
        """Statements after the block: give back its names and annotations, and repeat its exit."""
        handle = block.handle
        body: list[cst.BaseStatement] = []
        if asname is not None:  # `block "N" as b:` binds the handle, replayed or not
            target = cst.AssignTarget(asname.name.deep_clone())
            body.append(cst.SimpleStatementLine([cst.Assign([target], cst.Name(handle))]))
        for name, key in keys.items():
            text = f"if {key!r} in {handle}.saved: {name} = {handle}.saved[{key!r}]\n"
            if name in effects.deletes:
                text += f"elif {handle}.bound({key!r}): del {name}\n"
            body.append(cst.parse_statement(text))
        if scope.kind != "function" and effects.annotations:
            body.extend(self._annotations(handle, effects.annotations, guard=bool(block.exits)))
        for kind in ("return", "break", "continue"):
            if kind in block.exits:
                exit_statement = self._exit_statement(kind, handle, scope)
                body.append(
                    cst.If(
                        test=cst.parse_expression(f"{handle}.exit == {kind!r}"),
                        body=cst.SimpleStatementSuite(exit_statement),
                    )
                )
        statements: list[cst.BaseStatement] = []
        if body:
            statements.append(
                cst.If(test=cst.parse_expression(f"{handle}.replaying"), body=cst.IndentedBlock(body))
            )
        if scope.kind == "class":  # a handle must not stay behind as a class attribute
            statements.append(cst.parse_statement(f"del {handle}\n"))
        return statements

    @staticmethod
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

    def _exit_statement(self, kind: str, handle: str, scope: _Scope) -> list[cst.BaseSmallStatement]:
        """`return`/`break`/`continue` as repeated on replay, marked on every block it leaves."""
        if kind == "return":
            value = cst.parse_expression(f"{handle}.returned")
            for outer in reversed(scope.blocks):
                outer.exits.add("return")
                value = _call(outer.handle, "returning", value)
            return [cst.Return(value=value)]
        left = scope.blocks[scope.loops[-1]:] if scope.loops else []
        return [*self._mark_leaving(kind, left), cst.Break() if kind == "break" else cst.Continue()]

    def _mark_leaving(self, kind: str, blocks: list[_Block]) -> list[cst.BaseSmallStatement]:
        marks: list[cst.BaseSmallStatement] = []
        for block in reversed(blocks):
            block.exits.add(kind)
            call = _call(block.handle, "leaving", cst.SimpleString(repr(kind)))
            marks.append(cst.Expr(call, semicolon=cst.Semicolon(whitespace_after=cst.SimpleWhitespace(" "))))
        return marks

    # ---- exits inside blocks ----------------------------------------------

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return):
        blocks = self._scopes[-1].blocks
        if not blocks:
            return updated_node
        value: cst.BaseExpression = updated_node.value if updated_node.value is not None else cst.Name("None")
        calls = []
        for block in reversed(blocks):
            block.exits.add("return")
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

    def leave_Break(self, original_node: cst.Break, updated_node: cst.Break):
        return self._leave_loop_exit("break", updated_node)

    def leave_Continue(self, original_node: cst.Continue, updated_node: cst.Continue):
        return self._leave_loop_exit("continue", updated_node)

    def _leave_loop_exit(self, kind: str, node: cst.BaseSmallStatement):
        scope = self._scopes[-1]
        left = scope.blocks[scope.loops[-1]:] if scope.loops else []
        if not left:
            return node
        marks = self._mark_leaving(kind, left)
        self._insertions.append(("leaving", marks[0], node))
        return cst.FlattenSentinel([*marks, node])

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

    # ---- helpers ----------------------------------------------------------

    def _is_block_call(self, node: cst.BaseExpression) -> bool:
        return is_block_call(node, self._qualified_names)

    def _qualified_names(self, node: cst.CSTNode) -> set[str]:
        return {name.name for name in self.get_metadata(QualifiedNameProvider, node, set())}

    def _check_call(self, call: cst.Call) -> bool:
        """A block call psflow can rewrite: one str name, and only the options `retries=` and `backoff=`."""
        for arg in call.args:
            if arg.star:
                self._error(arg, f"write the block's name and options out in full, not `{arg.star}…`")
                return False
            keyword = arg.keyword.value if arg.keyword is not None else None
            if keyword not in (None, "name", "retries", "backoff"):
                self._error(arg, f"block() has no option {keyword!r}", fix="its options are retries= and backoff=")
                return False
        return self._check_name(call) and self._check_options(call)

    def _check_name(self, call: cst.Call) -> bool:
        positional = [arg for arg in call.args if arg.keyword is None]
        named = [arg for arg in call.args if arg.keyword is not None and arg.keyword.value == "name"]
        if len(positional) + len(named) != 1:
            self._error(
                call,
                'a block needs exactly one name: block("Name")',
                fix='give the block one name: block("Step1")',
                fix_when_raised="omitted",
            )
            return False
        name = (positional or named)[0].value
        kind = literal_kind(name)
        if kind is not None and kind != "str":
            self._error(
                name,
                f"block name must be a str, not {kind}",
                fix='name the block with a str: block("Step1"), or block(f"step-{item}") in a loop',
                fix_when_raised="omitted",
            )
            return False
        return True

    def _check_options(self, call: cst.Call) -> bool:
        """`retries=` an int of 0 or more, `backoff=` seconds of 0 or more, where they are literals."""
        ok = True
        for arg in call.args:
            if arg.keyword is None or arg.keyword.value not in ("retries", "backoff"):
                continue
            kind, negative = literal_kind(arg.value), is_negative(arg.value)
            got = "a negative number" if negative else kind if kind in ("None", "True", "False") else f"a {kind}"
            if arg.keyword.value == "retries" and (kind not in (None, "int") or negative):
                self._error(
                    arg.value,
                    f"retries must be an int of 0 or more, not {got}",
                    fix="give retries= how many times to try again, such as 3",
                    fix_when_raised="omitted",
                )
                ok = False
            if arg.keyword.value == "backoff" and (kind not in (None, "int", "float") or negative):
                self._error(
                    arg.value,
                    f"backoff must be seconds (0 or more) or a timedelta, not {got}",
                    fix="give backoff= the seconds to wait before the first retry, such as 2.0",
                    fix_when_raised="omitted",
                )
                ok = False
        return ok

    def _mangle(self, name: str) -> str:
        """The key Python stores `name` under: private names are mangled inside classes."""
        class_name = self._scopes[-1].class_name
        if class_name and name.startswith("__") and not name.endswith("__"):
            stripped = class_name.lstrip("_")
            if stripped:
                return f"_{stripped}{name}"
        return name

    def _position(self, node: cst.CSTNode):
        return self.get_metadata(PositionProvider, node)

    def _error(self, node: cst.CSTNode, message: str, fix: str = "", fix_when_raised: str = "joined") -> None:
        """An error at `node`. Raised, its fix is joined to the message by default, as the refusals
        of the rewriter (`… cannot be replayed; move it out of the block`) have always read."""
        start = self._position(node).start
        self.diagnostics.append(
            Diagnostic(
                "error", self.filename, start.line, start.column + 1, message, fix=fix, fix_when_raised=fix_when_raised
            )
        )


def _call(handle: str, method: str, *args: cst.BaseExpression) -> cst.Call:
    return cst.Call(
        func=cst.Attribute(value=cst.Name(handle), attr=cst.Name(method)),
        args=[cst.Arg(arg) for arg in args],
    )


def _comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _str_tuple(names) -> cst.Tuple | cst.Name:
    elements = [cst.Element(cst.SimpleString(repr(name))) for name in names]
    if len(elements) == 1:
        return cst.Tuple(elements=[elements[0].with_changes(comma=cst.Comma())])
    return cst.Tuple(elements=elements)

