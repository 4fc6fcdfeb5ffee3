"""Rule (warning): an `@block` function run by `map` rebinds a global or nonlocal name.

Its calls run at once in threads: they overwrite each other's value, and a replayed call (its
body does not run) sets nothing, so the name's value after the map differs between attempts.
"""

from __future__ import annotations

from collections.abc import Iterator

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.plan import ScriptPlan


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    for name, (node, declared) in plan.block_functions.items():
        if not declared or name not in plan.mapped:
            continue
        names = ", ".join(dict.fromkeys(declared))
        yield plan.warning(
            node.name,
            f"@block function {name!r} is run by {name}.map, its calls at once in threads, and declares "
            f"{names} global or nonlocal: calls overwrite each other's value, and a replayed call sets nothing",
            fix="return the value instead: map gives the calls' results back in order",
        )
