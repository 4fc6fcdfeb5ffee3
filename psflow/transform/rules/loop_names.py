"""Rule (warning): a literal block name inside a `for`/`while` body, which the second pass reaches again."""

from __future__ import annotations

from collections.abc import Iterator

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.plan import ScriptPlan


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    for block in plan.blocks:
        name, loop = block.literal, block.loop
        if block.site is None or name is None or loop is None:
            continue
        example = name.replace("{", "{{").replace("}", "}}") + "-{" + (loop.variable or "i") + "}"
        yield Diagnostic(
            "warning",
            plan.filename,
            block.site.line,
            block.column,
            f"block name {name!r} is the same on every pass of the loop at line {loop.line}: "
            "the second pass reaches it again and fails",
            fix=f'give each pass its own name, e.g. block(f"{example}")',
        )
