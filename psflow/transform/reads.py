"""The names a piece of code reads: what a block uses whose value comes from outside it.

Loads are taken in evaluation order, so `x = x + 1` reads `x` but `y = 1; print(y)`
does not read `y`. Names bound by lambdas and comprehensions inside belong to them.
Flow-insensitive otherwise: a name bound in one branch and read in another is not
a read.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from psflow.transform.matchers import bound_names


def reads(nodes: Iterable[cst.CSTNode]) -> list[str]:
    """Names `nodes` use whose values come from before them, in the order first used."""
    collector = _ReadCollector()
    for node in nodes:
        node.visit(collector)
    return collector.reads


class _ReadCollector(cst.CSTVisitor):
    """Loads in evaluation order: `x = x + 1` reads `x`; `y = 1; print(y)` does not read `y`.

    Names bound by lambdas and comprehensions inside are theirs, not reads.
    """

    def __init__(self) -> None:
        self.reads: list[str] = []
        self._bound: set[str] = set()
        self._local: list[set[str]] = []

    def _load(self, name: str) -> None:
        if name in self._bound or name in self.reads or any(name in names for names in self._local):
            return
        self.reads.append(name)

    def _store(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._bound.add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._store(element.value)
        elif isinstance(target, cst.StarredElement):
            self._store(target.value)
        else:  # `a.b = …`, `a[i] = …`: reads `a` (and `i`)
            target.visit(self)

    def visit_Name(self, node: cst.Name) -> None:
        self._load(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False  # `.attr` is no variable

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False  # nor is `keyword=`

    def visit_Assign(self, node: cst.Assign) -> bool:
        node.value.visit(self)
        for target in node.targets:
            self._store(target.target)
        return False

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        node.annotation.visit(self)
        if node.value is not None:
            node.value.visit(self)
            self._store(node.target)
        return False

    def visit_AugAssign(self, node: cst.AugAssign) -> bool:
        if isinstance(node.target, cst.Name):
            self._load(node.target.value)
        node.value.visit(self)
        self._store(node.target)
        return False

    def visit_NamedExpr(self, node: cst.NamedExpr) -> bool:
        node.value.visit(self)
        self._store(node.target)
        return False

    def visit_For(self, node: cst.For) -> bool:
        node.iter.visit(self)
        self._store(node.target)
        node.body.visit(self)
        if node.orelse is not None:
            node.orelse.visit(self)
        return False

    def visit_WithItem(self, node: cst.WithItem) -> bool:
        node.item.visit(self)
        if node.asname is not None:
            self._store(node.asname.name)
        return False

    def visit_Del(self, node: cst.Del) -> bool:
        for name in bound_names(node.target):
            self._bound.add(name)
        if not isinstance(node.target, (cst.Name, cst.Tuple, cst.List)):
            node.target.visit(self)
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            bound: cst.BaseExpression = alias.asname.name if alias.asname is not None else alias.name
            while isinstance(bound, cst.Attribute):
                bound = bound.value
            self._store(bound)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                self._store(alias.asname.name if alias.asname is not None else alias.name)
        return False

    def visit_Global(self, node: cst.Global) -> bool:
        return False

    def visit_Nonlocal(self, node: cst.Nonlocal) -> bool:
        return False

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> bool:
        if node.type is not None:
            node.type.visit(self)
        if node.name is not None:
            self._store(node.name.name)
        node.body.visit(self)
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._bound.add(node.name.value)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._bound.add(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        params = node.params
        names = {param.name.value for param in (*params.posonly_params, *params.params, *params.kwonly_params)}
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                names.add(star.name.value)
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if param.default is not None:
                param.default.visit(self)
        self._local.append(names)
        node.body.visit(self)
        self._local.pop()
        return False

    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return self._comprehension(node.for_in, [node.elt])

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return self._comprehension(node.for_in, [node.elt])

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return self._comprehension(node.for_in, [node.elt])

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return self._comprehension(node.for_in, [node.key, node.value])

    def _comprehension(self, for_in: cst.CompFor, results: list[cst.BaseExpression]) -> bool:
        for_in.iter.visit(self)  # the first iterable is evaluated outside the comprehension
        names: set[str] = set()
        clause: cst.CompFor | None = for_in
        while clause is not None:
            names.update(bound_names(clause.target))
            clause = clause.inner_for_in
        self._local.append(names)
        clause = for_in
        while clause is not None:
            if clause is not for_in:
                clause.iter.visit(self)
            for condition in clause.ifs:
                condition.visit(self)
            clause = clause.inner_for_in
        for result in results:
            result.visit(self)
        self._local.pop()
        return False

    def visit_MatchAs(self, node: cst.MatchAs) -> bool:
        if node.pattern is not None:
            node.pattern.visit(self)
        if node.name is not None:
            self._bound.add(node.name.value)
        return False

    def visit_MatchStar(self, node: cst.MatchStar) -> bool:
        if node.name is not None:
            self._bound.add(node.name.value)
        return False

    def visit_MatchMapping(self, node: cst.MatchMapping) -> bool:
        for element in node.elements:
            element.visit(self)
        if node.rest is not None:
            self._bound.add(node.rest.value)
        return False

    def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> bool:
        node.pattern.visit(self)
        return False  # `key=` names an attribute
