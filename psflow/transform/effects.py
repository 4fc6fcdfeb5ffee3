"""What a block's body does to its scope: the names it binds, deletes, mutates and gives to calls.

Collected by walking the body's own nodes (not libcst's scope metadata, which
files walrus targets, `del` and dotted imports in ways that do not match what
ends up in the frame). Bodies of nested functions, lambdas, classes and
comprehensions are skipped: their names live in scopes of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, cast

import libcst as cst

from psflow.transform.matchers import root_name


class Unsupported(NamedTuple):
    """A construct psflow cannot replay, and what the user can do instead."""

    node: cst.CSTNode
    message: str
    fix: str


@dataclass
class BodyEffects:
    """Names, in first-seen order, and constructs psflow cannot replay."""

    binds: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    mutates: list[str] = field(default_factory=list)  # roots of attribute/item assignments and method calls
    # roots of what calls are given and names are bound to, not in `mutates`: they may change it too
    given: list[str] = field(default_factory=list)
    # `name: T [= v]` directly in the body (so it ran if the body ended normally): at module
    # and class level it also fills `__annotations__`.
    annotations: list[tuple[str, cst.BaseExpression]] = field(default_factory=list)
    # `import …` directly in the body (as annotations): modules are code, not data, so a replay
    # runs these again instead of restoring what they bound; a name only they bind is not saved.
    imports: list[cst.Import | cst.ImportFrom] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)

    def bind(self, name: str) -> None:
        if name not in self.binds:
            self.binds.append(name)

    def mutate(self, name: str) -> None:
        if name not in self.mutates:
            self.mutates.append(name)

    def give(self, name: str) -> None:
        if name not in self.given:
            self.given.append(name)


def analyse_body(nodes: list[cst.CSTNode]) -> BodyEffects:
    """Effects of the statements `nodes` (a block's body and its later `with` items)."""
    body = nodes[-1]
    top_level = list(_top_level(body)) if isinstance(body, cst.BaseSuite) else []
    imports = [
        statement
        for statement in top_level
        if isinstance(statement, cst.Import)
        or (isinstance(statement, cst.ImportFrom) and not isinstance(statement.names, cst.ImportStar))
    ]
    collector = _EffectCollector(imports)
    for node in nodes:
        node.visit(collector)
    effects = collector.effects
    imported = collector.imported.binds
    inner = {*effects.binds, *imported}  # names the body binds itself are not outer objects
    effects.mutates = [name for name in effects.mutates if name not in inner]
    effects.given = [name for name in effects.given if name not in inner and name not in effects.mutates]
    effects.imports = imports
    effects.annotations = [
        (statement.target.value, statement.annotation.annotation)
        for statement in top_level
        if isinstance(statement, cst.AnnAssign) and isinstance(statement.target, cst.Name) and not statement.target.lpar
    ]  # `(x): T` records nothing, so it is left out
    return effects


def _top_level(body: cst.BaseSuite) -> Iterator[cst.BaseSmallStatement]:
    """Each simple statement that runs whenever `body` runs to its end: directly in it or in a
    `with` (a nested block) directly in it; not under `if`, loops or `try`."""
    if isinstance(body, cst.SimpleStatementSuite):  # `with block("N"): x: T = v` on one line
        lines: Sequence[cst.BaseStatement] = [cst.SimpleStatementLine(body.body)]
    else:
        lines = cast(cst.IndentedBlock, body).body
    for line in lines:
        if isinstance(line, cst.With):
            yield from _top_level(line.body)
        elif isinstance(line, cst.SimpleStatementLine):
            yield from line.body


def _target_names(target: cst.BaseExpression, effects: BodyEffects) -> None:
    """Record what assigning to `target` binds (names) or mutates (attributes, items)."""
    if isinstance(target, cst.Name):
        effects.bind(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            _target_names(element.value, effects)
    elif isinstance(target, cst.StarredElement):
        _target_names(target.value, effects)
    elif isinstance(target, (cst.Attribute, cst.Subscript)):
        root = root_name(target)
        if root is not None:
            effects.mutate(root)


class _EffectCollector(cst.CSTVisitor):
    def __init__(self, imports: list[cst.Import | cst.ImportFrom]) -> None:
        self.effects = BodyEffects()
        self.imported = BodyEffects()  # what the imports a replay runs again bind
        self._imports = {id(statement) for statement in imports}

    # Scopes of their own: only their names (and, for defs, that they exist) count.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._refuse(node, "a function defined inside a block cannot be saved", "define it before the block")
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._refuse(node, "a class defined inside a block cannot be saved", "define it before the block")
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_CompFor(self, node: cst.CompFor) -> bool:
        if node.asynchronous is not None:
            self._suspends(node, "`async for`")
        # Comprehension targets stay inside the comprehension; walk the rest.
        node.iter.visit(self)
        for condition in node.ifs:
            condition.visit(self)
        if node.inner_for_in is not None:
            node.inner_for_in.visit(self)
        return False

    # Binding statements. A name bound to an outer object (`x = outer`, `row` of `for row in rows`,
    # `with outer as x`) may change that object: what it is bound to is watched as given to a call.
    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            _target_names(target.target, self.effects)
        self._given(node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            _target_names(node.target, self.effects)
            self._given(node.value)

    def _given(self, value: cst.BaseExpression) -> None:
        root = root_name(value)
        if root is not None:
            self.effects.give(root)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        _target_names(node.target, self.effects)

    def visit_For(self, node: cst.For) -> None:
        if node.asynchronous is not None:
            self._suspends(node, "`async for`")
        _target_names(node.target, self.effects)
        self._given(node.iter)

    def visit_With(self, node: cst.With) -> None:
        if node.asynchronous is not None:
            self._suspends(node, "`async with`")

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            _target_names(node.asname.name, self.effects)
        self._given(node.item)

    def visit_ExceptHandler(self, node: cst.ExceptHandler | cst.ExceptStarHandler) -> None:
        # Python deletes `e` when `except … as e:` ends: a delete, so replay unbinds it too.
        if node.name is not None:
            self._delete(node.name.name)

    visit_ExceptStarHandler = visit_ExceptHandler

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        _target_names(node.target, self.effects)  # binds outside any comprehension too

    def visit_Import(self, node: cst.Import) -> None:
        effects = self.imported if id(node) in self._imports else self.effects
        for alias in node.names:
            if alias.asname is not None:
                _target_names(alias.asname.name, effects)
            else:
                effects.bind(root_name(alias.name) or "")

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            self._refuse(node, "`from … import *` inside a block binds unknown names", "import them by name")
            return
        effects = self.imported if id(node) in self._imports else self.effects
        for alias in node.names:
            bound = alias.asname.name if alias.asname is not None else alias.name
            _target_names(bound, effects)

    def visit_Del(self, node: cst.Del) -> None:
        self._delete(node.target)

    def _delete(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.effects.bind(target.value)
            if target.value not in self.effects.deletes:
                self.effects.deletes.append(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._delete(element.value)
        else:
            _target_names(target, self.effects)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self.effects.bind(node.name.value)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self.effects.bind(node.name.value)

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self.effects.bind(node.rest.value)

    # Mutation through a method call, `results.append(x)`, or by the function called, `add(results, x)`,
    # `heapq.heappush(h, x)`: what a call is given it may change.
    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and (root := root_name(node.func.value)) is not None:
            self.effects.mutate(root)
        for arg in node.args:
            self._given(arg.value)

    # Suspension points cannot be replayed: a skipped body would skip them too.
    def visit_Yield(self, node: cst.Yield) -> None:
        self._refuse(node, "`yield` inside a block cannot be replayed", "move it out of the block")

    def visit_Await(self, node: cst.Await) -> None:
        self._suspends(node, "`await`")

    def _suspends(self, node: cst.CSTNode, what: str) -> None:
        self._refuse(node, f"{what} inside a block is not supported yet", "move it out of the block")

    def _refuse(self, node: cst.CSTNode, message: str, fix: str) -> None:
        self.effects.unsupported.append(Unsupported(node, message, fix))
