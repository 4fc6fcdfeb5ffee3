"""Rule (error): what a block's body holds that psflow cannot replay (def, class, yield, await, `import *`)."""

from __future__ import annotations

from collections.abc import Iterator

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.plan import ScriptPlan


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    for block in plan.blocks:  # a nested block's constructs are in its outer blocks' bodies too
        for construct in block.effects.unsupported:
            yield plan.error(construct.node, construct.message, fix=construct.fix)
