"""Rule (error): the same literal block name twice on one path, which fails when the second is reached.

Two blocks with one literal name in one function (or module, or class) body are
on one path unless they sit in different branches of one `if`/`elif`/`else`, one
`match`, or in different `except` handlers (or a handler and the `else`) of one
`try`. An early `return` is not followed.
"""

from __future__ import annotations

from collections.abc import Iterator

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.plan import BlockPlan, ScriptPlan
from psflow.transform.scopes import Scope, exclusive


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    earlier: dict[tuple[Scope, str], list[BlockPlan]] = {}
    for block in plan.blocks:
        name = block.literal
        if block.site is None or name is None:
            continue
        same = earlier.setdefault((block.scope, name), [])
        first = next((other for other in same if not exclusive(other.path, block.path)), None)
        same.append(block)
        if first is not None:
            yield Diagnostic(
                "error",
                plan.filename,
                block.site.line,
                block.column,
                f"block name {name!r} is used twice on one path (first at line {first.line}): "
                "when both run in one attempt, the second fails",
                fix=f"give each block its own name (e.g. {name + '-2'!r}), or put them in different branches "
                "of one if/else",
            )
