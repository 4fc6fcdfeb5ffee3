"""Rule (error): a `with` statement that uses psflow's `block` in a way psflow cannot run."""

from __future__ import annotations

from collections.abc import Iterator

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.plan import ScriptPlan


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    for header in plan.headers:
        if not header.calls:  # `block "N":` whose `block` is not psflow's: it would run every time
            yield plan.error(
                header.node,
                '`block` here is a name of this script, not psflow\'s: rename it to use `block "Name":`',
                fix="rename the script's own `block`, so that `block \"Name\":` is psflow's",
                fix_when_raised="omitted",
            )
        elif len(header.calls) > 1:
            yield plan.error(header.calls[1], "one block per `with` statement", fix="nest them instead")
        elif header.node.asynchronous is not None:
            yield plan.error(header.node, "`async with block(...)` is not supported", fix="use a plain `with`")
