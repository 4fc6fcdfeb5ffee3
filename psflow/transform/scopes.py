"""The scopes a script's names live in, as the planner walks them: bindings, loops, branches, open blocks.

A function, class or module body is a scope. The rules ask of them which binding a
name read in a block refers to, and whether two blocks can both run; the rewriter
asks under which key Python stores a name (class-private names are mangled).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst
from libcst.metadata import CodeRange

from psflow.transform.matchers import bound_names, dotted_name

if TYPE_CHECKING:
    from psflow.transform.plan import BlockPlan, Decider

# A place among exclusive branches: (id of the if/match/try, which branch), outermost first.
Path = tuple[tuple[int, int], ...]


@dataclass
class Binding:
    """One place a scope binds a name."""

    value: cst.BaseExpression | None  # what was assigned; None for imports, parameters, defs
    kind: str  # "assign", "unpack", "aug", "with", "for" or "other"
    line: int
    blocks: tuple[BlockPlan, ...]  # the blocks open where the name is bound


@dataclass(frozen=True)
class Loop:
    """A `for`/`while` body of a scope."""

    line: int
    variable: str | None  # the `for` target, when it is one name
    blocks: int  # how many blocks of the scope were open when it began (a `break` leaves the later ones)


@dataclass(eq=False)
class Scope:
    """A function, class or module body."""

    kind: str  # "module", "function" or "class"
    parent: Scope | None
    class_name: str | None  # the class whose private names are mangled here (methods inherit it)
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    declared_global: set[str] = field(default_factory=set)
    loops: list[Loop] = field(default_factory=list)  # open, innermost last
    path: list[tuple[int, int]] = field(default_factory=list)  # exclusive branches around here
    blocks: list[BlockPlan] = field(default_factory=list)  # open, innermost last
    deciders: list[Decider] = field(default_factory=list)  # if/while tests open here, outside blocks
    has_blocks: bool = False

    def module(self) -> Scope:
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope

    def owner(self, name: str) -> Scope | None:
        """The scope whose `name` a read here sees (Python's rules, without closures' subtleties)."""
        if name in self.declared_global:
            return self.module()
        current: Scope | None = self
        while current is not None:
            if (current.kind != "class" or current is self) and name in current.bindings:
                return current
            current = current.parent
        return None

    def mangle(self, name: str) -> str:
        """The key Python stores `name` under here: identifiers NFKC-normalised as Python reads them
        (PEP 3131: `ﬁle` is `file`), and private names mangled inside classes."""
        name = _identifier(name)
        if self.class_name and name.startswith("__") and not name.endswith("__"):
            stripped = _identifier(self.class_name).lstrip("_")
            if stripped:
                return f"_{stripped}{name}"
        return name


def _identifier(name: str) -> str:
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


def exclusive(first: Path, second: Path) -> bool:
    """Can at most one of two places run? Yes if they are in different branches of one if/match/try."""
    for (node, branch), (other_node, other_branch) in zip(first, second, strict=False):
        if node != other_node:
            return False
        if branch != other_branch:
            return True
    return False


class ScopeWalker(cst.CSTVisitor):
    """Keeps `scope` the scope being walked, with its loops and branches, and records every binding."""

    def __init__(self, positions: Mapping[cst.CSTNode, CodeRange]) -> None:
        super().__init__()
        self.positions = positions
        self.scope = Scope("module", parent=None, class_name=None)
        self.scopes = [self.scope]  # every scope met, the module's first
        self._branches: dict[cst.CSTNode, tuple[int, int]] = {}  # handler/case → (try/match id, branch)

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    # ---- scopes -----------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._bind(node.name.value, None, "other", node)
        self._push("function", self.scope.class_name)
        params = node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            self._bind(param.name.value, None, "other", param)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                self._bind(star.name.value, None, "other", star)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._bind(node.name.value, None, "other", node)
        self._push("class", node.name.value)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._pop()

    def _push(self, kind: str, class_name: str | None) -> None:
        self.scope = Scope(kind, parent=self.scope, class_name=class_name)
        self.scopes.append(self.scope)

    def _pop(self) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    def visit_Global(self, node: cst.Global) -> None:
        self.scope.declared_global.update(item.name.value for item in node.names)

    # ---- loops and exclusive branches ---------------------------------------------
    # Only a loop's body is "in" the loop: `break` in its `else` leaves the outer one.

    def visit_For_body(self, node: cst.For) -> None:
        variable = node.target.value if isinstance(node.target, cst.Name) else None
        self.scope.loops.append(Loop(self.line(node), variable, len(self.scope.blocks)))

    def visit_While_body(self, node: cst.While) -> None:
        self.scope.loops.append(Loop(self.line(node), None, len(self.scope.blocks)))

    def _leave_loop_body(self, node: cst.CSTNode) -> None:
        self.scope.loops.pop()

    leave_For_body = leave_While_body = _leave_loop_body

    def visit_If_body(self, node: cst.If) -> None:
        self.scope.path.append((id(node), 0))

    def visit_If_orelse(self, node: cst.If) -> None:
        self.scope.path.append((id(node), 1))

    def _leave_branch(self, node: cst.CSTNode) -> None:
        self.scope.path.pop()

    leave_If_body = leave_If_orelse = _leave_branch

    def visit_Try(self, node: cst.Try) -> None:
        for index, handler in enumerate(node.handlers):
            self._branches[handler] = (id(node), index + 1)

    def visit_Try_orelse(self, node: cst.Try) -> None:
        self.scope.path.append((id(node), 0))  # runs only when no handler does

    leave_Try_orelse = _leave_branch

    def visit_Match(self, node: cst.Match) -> None:
        for index, case in enumerate(node.cases):
            self._branches[case] = (id(node), index)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._bind(node.name.name.value, None, "other", node)
        self._enter_branch(node)

    def leave_ExceptHandler(self, original_node: cst.ExceptHandler) -> None:
        self._leave_branch_of(original_node)

    def visit_MatchCase(self, node: cst.MatchCase) -> None:
        self._enter_branch(node)

    def leave_MatchCase(self, original_node: cst.MatchCase) -> None:
        self._leave_branch_of(original_node)

    def _enter_branch(self, node: cst.CSTNode) -> None:
        if node in self._branches:
            self.scope.path.append(self._branches[node])

    def _leave_branch_of(self, node: cst.CSTNode) -> None:
        if node in self._branches:
            self.scope.path.pop()

    # ---- bindings -------------------------------------------------------------------

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_target(target.target, node.value, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind_target(node.target, node.value, node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, node.value, "aug", node)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, node.value, node)

    def visit_For(self, node: cst.For) -> None:
        for name in bound_names(node.target):
            self._bind(name, node.iter, "for", node)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, node.item, node, kind="with")

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            bound: cst.BaseExpression = alias.asname.name if alias.asname is not None else alias.name
            while isinstance(bound, cst.Attribute):
                bound = bound.value
            for name in bound_names(bound):
                self._bind(name, None, "other", node)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        source = dotted_name(node.module) if node.module is not None else ""
        for alias in node.names:
            bound = alias.asname.name if alias.asname is not None else alias.name
            if source in ("psflow", "psflow.blocks") and alias.asname is None:
                continue  # psflow's own names, which a script has anyway
            for name in bound_names(bound):
                self._bind(name, None, "other", node)

    def _bind_target(
        self, target: cst.BaseExpression, value: cst.BaseExpression, node: cst.CSTNode, kind: str = "assign"
    ) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, value, kind, node)
        else:
            for name in bound_names(target):
                self._bind(name, value, "unpack", node)

    def _bind(self, name: str, value: cst.BaseExpression | None, kind: str, node: cst.CSTNode) -> None:
        scope = self.scope.module() if name in self.scope.declared_global else self.scope
        binding = Binding(value, kind, self.line(node), tuple(self.scope.blocks))
        scope.bindings.setdefault(name, []).append(binding)
