"""Rule (warning): a value that differs on every attempt decides which blocks run, or names a block.

Such a value is a name bound outside blocks from `random.*`, `secrets.*`,
`datetime.now()/utcnow()/today()`, `date.today()`, `time.time()/time_ns()`,
`uuid.uuid1()/uuid4()` or `os.urandom()` (under any import form; and names computed
from such names). It counts where it is used in the test of an `if`/`while` (outside
blocks) that has a block below it (or calls a function of this script that has one),
or in a block's name. Such a call directly in the test or name counts too.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.plan import ScriptPlan
from psflow.transform.reads import reads
from psflow.transform.scopes import Scope

# Calls whose result differs on every attempt (qualified names; a module prefix ends with ".").
NONDETERMINISTIC = frozenset(
    {
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "time.time",
        "time.time_ns",
        "uuid.uuid1",
        "uuid.uuid4",
        "os.urandom",
    }
)
NONDETERMINISTIC_MODULES = ("random.", "secrets.")
REPEATABLE = frozenset({"random.Random", "random.seed", "random.getstate", "random.setstate", "random.SystemRandom"})

# (scope, name) → where its attempt-dependent value comes from ("random.choice() at line 4").
Tainted = dict[tuple[Scope, str], str]


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    tainted = _tainted(plan)
    for decider in plan.deciders:
        if not (decider.has_block or decider.calls & plan.functions_with_blocks):
            continue
        found = _source_of(plan, decider.test, decider.scope, tainted)
        if found is not None:
            yield Diagnostic(
                "warning",
                plan.filename,
                decider.line,
                decider.column,
                f"this {decider.keyword} test uses {_describe(found)}, which differs on every attempt, "
                "and decides which blocks run: a resumed job may take another path",
                fix="compute the value inside a block, so it is saved and the same on every attempt",
            )
    for block in plan.blocks:
        if block.site is None or block.name is None or block.literal is not None:
            continue
        found = _source_of(plan, block.name, block.scope, tainted)
        if found is not None:
            yield Diagnostic(
                "warning",
                plan.filename,
                block.line,
                block.column,
                f"block name {block.site.name} uses {_describe(found)}, which differs on every attempt: "
                "a resumed job will not find the block it completed, and runs it again",
                fix="compute the value inside a block (or from the job's arguments), "
                "so it is the same on every attempt",
            )


def _tainted(plan: ScriptPlan) -> Tainted:
    """Names bound outside blocks to attempt-dependent values, until no more are found."""
    tainted: Tainted = {}
    changed = True
    while changed:
        changed = False
        for scope in plan.scopes:
            for name, bindings in scope.bindings.items():
                if (scope, name) in tainted:
                    continue
                for binding in bindings:
                    if binding.value is None or binding.blocks:
                        continue
                    found = _source_of(plan, binding.value, scope, tainted)
                    if found is not None:
                        via, source = found
                        tainted[(scope, name)] = source if via else f"{source} at line {binding.line}"
                        changed = True
                        break
    return tainted


def _source_of(
    plan: ScriptPlan, expression: cst.BaseExpression, scope: Scope, tainted: Tainted
) -> tuple[str | None, str] | None:
    """What makes `expression` differ per attempt: (None, "random.random()") for a call in it,
    (name, its source) for a name it reads that is tainted; None if nothing does."""
    for call in _calls(expression):
        source = _nondeterministic(plan, call)
        if source is not None:
            return None, source
    for name in reads([expression]):
        owner = scope.owner(name)
        if owner is not None and (owner, name) in tainted:
            return name, tainted[(owner, name)]
    return None


def _nondeterministic(plan: ScriptPlan, call: cst.Call) -> str | None:
    """ "random.choice()" for a call whose result differs on every attempt; None otherwise."""
    found = None
    for name in sorted(plan.qualified_names(call.func)):
        if name in NONDETERMINISTIC or (name.startswith(NONDETERMINISTIC_MODULES) and name not in REPEATABLE):
            found = f"{name}()"
    return found


def _describe(found: tuple[str | None, str]) -> str:
    """ "random.random()", or "`pick` (from random.choice() at line 4)"."""
    via, source = found
    return source if via is None else f"`{via}` (from {source})"


def _calls(expression: cst.CSTNode) -> list[cst.Call]:
    """The calls `expression` makes, outermost first (not those in lambdas: they are not called here)."""
    collector = _CallCollector()
    expression.visit(collector)
    return collector.calls


class _CallCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False
