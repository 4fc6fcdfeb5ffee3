"""The one pass over a script: every block's site, effects and surroundings, for the rules and the rewriter.

Metadata (positions, scopes) is resolved once, and each block's body is
analysed once, when the walk reaches it. The rules read the plan to report what
would go wrong at run time; the rewriter reads it to write the blocks out.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import cast

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider, ScopeProvider
from libcst.metadata import Scope as NameScope

from psflow.script import NAMES
from psflow.transform.diagnostics import Diagnostic
from psflow.transform.effects import BodyEffects, analyse_body
from psflow.transform.locations import HANDLE_PREFIX, split_lines
from psflow.transform.matchers import (
    callee,
    code_of,
    is_block_call,
    is_constant_other_than_str,
    keyword,
    name_argument,
    str_value,
)
from psflow.transform.reads import reads
from psflow.transform.scopes import Loop, Path, Scope, ScopeWalker
from psflow.transform.sites import BlockFunction, BlockSite, fingerprint

# Names a script run by psflow has without binding them: never reads of an outer value.
_PROVIDED = frozenset(dir(builtins)) | frozenset(NAMES)


@dataclass(eq=False)
class BlockPlan:
    """A `with` statement with one psflow `block(...)` call: what the rules check and the rewriter writes."""

    number: int  # 1, 2, … in source order; its handle in the generated code is named after it
    node: cst.With
    call: cst.Call
    name: cst.BaseExpression | None  # the name argument; None unless there is exactly one
    literal: str | None  # the name, when it is a str literal
    site: BlockSite | None  # None when psflow cannot list it: no single name, or a constant that is no str
    scope: Scope
    line: int  # of the `with`
    column: int  # 1-based, of its name (of the `with` without one): where diagnostics about the block point
    path: Path  # the exclusive branches it sits in
    loop: Loop | None  # the innermost loop of its scope around it
    enclosing: tuple[BlockPlan, ...]  # the open blocks of its scope around it, outermost first
    effects: BodyEffects
    exits: set[str] = field(default_factory=set)  # "return", "break", "continue" that leave it

    @property
    def handle(self) -> str:
        return f"{HANDLE_PREFIX}{self.number}"

    @property
    def index(self) -> int:
        """Which item of the `with` is the block call."""
        return next(i for i, item in enumerate(self.node.items) if item.item is self.call)

    @property
    def retried(self) -> bool:
        """Has it `retries=`? Then its body runs in a retry loop."""
        return any(keyword(arg) == "retries" for arg in self.call.args)

    def left_by_loop_exits(self) -> tuple[BlockPlan, ...]:
        """The enclosing blocks a `break`/`continue` right after this block leaves: those inside its loop."""
        return self.enclosing[self.loop.blocks :] if self.loop is not None else ()


@dataclass(frozen=True)
class Header:
    """A `with` statement that calls psflow's `block`, or that was written as `block "N":`."""

    node: cst.With
    calls: tuple[cst.Call, ...]  # its items that call psflow's block
    shorthand: bool


@dataclass(eq=False)
class Decider:
    """The test of an `if`/`while` outside blocks: it may decide which blocks run."""

    test: cst.BaseExpression
    scope: Scope
    keyword: str
    line: int
    column: int
    has_block: bool = False  # a block sits under it
    calls: set[str] = field(default_factory=set)  # last name parts of what is called under it, outside blocks


@dataclass
class ScriptPlan:
    """What the walk found; positions are in the text it was given (the shorthand already expanded)."""

    filename: str
    positions: Mapping[cst.CSTNode, CodeRange]
    name_scopes: Mapping[cst.CSTNode, NameScope | None]  # libcst's scope of each node: where its names resolve
    default_indent: str
    blocks: list[BlockPlan] = field(default_factory=list)
    headers: list[Header] = field(default_factory=list)
    exits: dict[cst.CSTNode, tuple[BlockPlan, ...]] = field(default_factory=dict)  # return/break/continue
    scopes: list[Scope] = field(default_factory=list)  # the module's first
    deciders: list[Decider] = field(default_factory=list)
    functions_with_blocks: set[str] = field(default_factory=set)
    functions: list[BlockFunction] = field(default_factory=list)  # the `@block(NAME)` functions
    # `@block` functions by their Python name: the def, and the names it declares global or nonlocal
    block_functions: dict[str, tuple[cst.FunctionDef, list[str]]] = field(default_factory=dict)
    mapped: set[str] = field(default_factory=set)  # `X` of every `X.map(...)` call

    @property
    def sites(self) -> list[BlockSite]:
        return [block.site for block in self.blocks if block.site is not None]

    def start(self, node: cst.CSTNode) -> tuple[int, int]:
        """Line and 1-based column where `node` starts."""
        position = self.positions[node].start
        return position.line, position.column + 1

    def error(self, node: cst.CSTNode, message: str, fix: str = "", fix_when_raised: str = "joined") -> Diagnostic:
        """An error at `node`. Raised, its fix is joined to the message by default, as the refusals
        of the rewriter (`… cannot be replayed; move it out of the block`) have always read."""
        line, column = self.start(node)
        return Diagnostic("error", self.filename, line, column, message, fix=fix, fix_when_raised=fix_when_raised)

    def warning(self, node: cst.CSTNode, message: str, fix: str = "") -> Diagnostic:
        """A warning at `node`."""
        line, column = self.start(node)
        return Diagnostic("warning", self.filename, line, column, message, fix=fix)

    def qualified_names(self, node: cst.CSTNode) -> set[str]:
        """What `node` may refer to, by qualified name (`random.choice` for `choice` after `from random import …`)."""
        scope = self.name_scopes.get(node)
        return {name.name for name in scope.get_qualified_names_for(node)} if scope is not None else set()

    def innermost(self, finder: type[Finder]) -> Iterator[tuple[BlockPlan, cst.CSTNode, str]]:
        """(block, node, what) for what `finder` finds in each block's body, each node once: for the
        innermost block around it (inner blocks come after the blocks around them)."""
        reported: set[int] = set()
        for block in reversed(self.blocks):
            if block.site is None:
                continue
            search = finder(self)
            block.node.body.visit(search)
            for node, what in search.found:
                if id(node) not in reported:
                    reported.add(id(node))
                    yield block, node, what


class Finder(cst.CSTVisitor):
    """A rule's search of one block's body: what it finds there, as (node, what it is) pairs."""

    def __init__(self, plan: ScriptPlan) -> None:
        super().__init__()
        self.plan = plan
        self.found: list[tuple[cst.CSTNode, str]] = []


def plan_script(module: cst.Module, text: str, filename: str, shorthand_lines: Collection[int]) -> ScriptPlan:
    """Walk `module` (parsed from `text`) once; `shorthand_lines` are where `block "N":` headers were."""
    # Scopes, not libcst's QualifiedNameProvider: that one walks the whole tree again to attach a lazy value to
    # every node (40% of the metadata's time), where the rules ask about a few calls.
    metadata = MetadataWrapper(module, unsafe_skip_copy=True).resolve_many({PositionProvider, ScopeProvider})
    plan = ScriptPlan(
        filename,
        cast(Mapping[cst.CSTNode, CodeRange], metadata[PositionProvider]),
        cast(Mapping[cst.CSTNode, NameScope | None], metadata[ScopeProvider]),
        module.default_indent,
    )
    planner = _Planner(plan, split_lines(text), shorthand_lines)
    module.visit(planner)
    plan.scopes = planner.scopes
    return plan


class _Planner(ScopeWalker):
    """Fills a ScriptPlan: blocks and the exits that leave them, `@block` functions, deciders."""

    def __init__(self, plan: ScriptPlan, lines: list[str], shorthand_lines: Collection[int]) -> None:
        super().__init__(plan.positions)
        self.plan = plan
        self._lines = lines
        self._shorthand_lines = shorthand_lines
        self._open_deciders: dict[cst.CSTNode, Decider] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        for decorator in node.decorators:
            call = decorator.decorator
            if self._is_block_call(call):
                name = name_argument(cast(cst.Call, call))
                literal = str_value(name) if name is not None else None
                self.plan.functions.append(BlockFunction(literal, node.name.value, self.plan.start(decorator)[0]))
                declarations = _Declarations()
                node.body.visit(declarations)
                self.plan.block_functions[node.name.value] = (node, declarations.names)
        super().visit_FunctionDef(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        if self.scope.has_blocks:
            self.plan.functions_with_blocks.add(original_node.name.value)
        super().leave_FunctionDef(original_node)

    # ---- if/while tests that may decide which blocks run ------------------------------

    def visit_If(self, node: cst.If) -> None:
        self._open_decider(node, node.test, "if")

    def visit_While(self, node: cst.While) -> None:
        self._open_decider(node, node.test, "while")

    def _open_decider(self, node: cst.CSTNode, test: cst.BaseExpression, keyword: str) -> None:
        if self.scope.blocks:
            return  # a replayed block skips it: its decisions are not made again
        decider = Decider(test, self.scope, keyword, *self.plan.start(test))
        self.plan.deciders.append(decider)
        self._open_deciders[node] = decider
        self.scope.deciders.append(decider)

    def leave_If(self, original_node: cst.If) -> None:
        self._close_decider(original_node)

    def leave_While(self, original_node: cst.While) -> None:
        self._close_decider(original_node)

    def _close_decider(self, node: cst.CSTNode) -> None:
        if self._open_deciders.pop(node, None) is not None:
            self.scope.deciders.pop()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "map" and isinstance(func.value, cst.Name):
            self.plan.mapped.add(func.value.value)
        short = callee(node.func)
        if short and not self.scope.blocks:
            for decider in self.scope.deciders:
                decider.calls.add(short.rsplit(".", 1)[-1])

    # ---- blocks and the exits that leave them ------------------------------------------

    def visit_With(self, node: cst.With) -> None:
        calls = tuple(cast(cst.Call, item.item) for item in node.items if self._is_block_call(item.item))
        shorthand = self.line(node) in self._shorthand_lines
        if calls or shorthand:
            self.plan.headers.append(Header(node, calls, shorthand))
        if len(calls) == 1 and node.asynchronous is None:
            self._open_block(node, calls[0])

    def _open_block(self, node: cst.With, call: cst.Call) -> None:
        scope = self.scope
        index = next(i for i, item in enumerate(node.items) if item.item is call)
        body: list[cst.CSTNode] = [*node.items[index + 1 :], node.body]
        effects = analyse_body(body)
        name = name_argument(call)
        literal = str_value(name) if name is not None else None
        site = None
        if name is not None and not is_constant_other_than_str(name):
            shown = literal if literal is not None else " ".join(code_of(name).split())
            site = self._site(node, shown, literal is None, effects, reads([name, *body]))
        block = BlockPlan(
            number=len(self.plan.blocks) + 1,
            node=node,
            call=call,
            name=name,
            literal=literal,
            site=site,
            scope=scope,
            line=self.line(node),
            column=self.plan.start(name if name is not None else node)[1],
            path=tuple(scope.path),
            loop=scope.loops[-1] if scope.loops else None,
            enclosing=tuple(scope.blocks),
            effects=effects,
        )
        self.plan.blocks.append(block)
        scope.blocks.append(block)
        scope.has_blocks = True
        for decider in scope.deciders:
            decider.has_block = True

    def _site(self, node: cst.With, name: str, dynamic: bool, effects: BodyEffects, used: list[str]) -> BlockSite:
        position = self.plan.positions[node]
        first, last = position.start.line, position.end.line
        return BlockSite(
            name=name,
            dynamic=dynamic,
            line=first,
            binds=tuple(effects.binds),
            reads=tuple(used),  # until the walk ends: then the names nothing binds (builtins, …) go
            fingerprint=fingerprint(self._lines, first, last),
            end_line=last,
        )

    def leave_With(self, original_node: cst.With) -> None:
        blocks = self.scope.blocks
        if blocks and blocks[-1].node is original_node:
            blocks.pop()

    def visit_Return(self, node: cst.Return) -> None:
        self._exit(node, "return", self.scope.blocks)

    def visit_Break(self, node: cst.Break) -> None:
        self._exit(node, "break", self._inside_loop())

    def visit_Continue(self, node: cst.Continue) -> None:
        self._exit(node, "continue", self._inside_loop())

    def _inside_loop(self) -> list[BlockPlan]:
        """The open blocks a `break`/`continue` here leaves: those opened inside the innermost loop."""
        scope = self.scope
        return scope.blocks[scope.loops[-1].blocks :] if scope.loops else []

    def _exit(self, node: cst.CSTNode, kind: str, left: list[BlockPlan]) -> None:
        if left:
            self.plan.exits[node] = tuple(left)
            for block in left:
                block.exits.add(kind)

    def leave_Module(self, original_node: cst.Module) -> None:
        bound = set().union(*(scope.bindings for scope in self.scopes))
        ignored = _PROVIDED - bound
        for block in self.plan.blocks:
            if block.site is not None:
                kept = tuple(name for name in block.site.reads if name not in ignored)
                block.site = replace(block.site, reads=kept)

    def _is_block_call(self, node: cst.BaseExpression) -> bool:
        return is_block_call(node, self.plan.qualified_names)


class _Declarations(cst.CSTVisitor):
    """The names a function body declares `global` or `nonlocal` (not those of functions inside it)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def visit_Global(self, node: cst.Global) -> None:
        self.names.extend(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.names.extend(item.name.value for item in node.names)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False
