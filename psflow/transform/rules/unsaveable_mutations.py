"""Rule (warning): a block changes in place an outer object psflow cannot save, so a replay does not redo it.

The change is a method call, or an item or attribute assignment, on a name bound
outside the block to something whose state psflow cannot read as attributes and
items (so no patch records it): a lambda, a generator expression, or a call whose
last name part says it makes a handle (`open`, `connect`, `socket`, `cursor`, `Popen`, `urlopen`,
`Session`, `Lock`, `Thread`, … see HANDLE_MAKERS).
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.matchers import callee
from psflow.transform.plan import ScriptPlan
from psflow.transform.scopes import Binding, Scope

# Last part of the name of a call that obviously returns a handle psflow's codec cannot save.
HANDLE_MAKERS = frozenset(
    {
        "open",
        "connect",
        "create_connection",
        "socket",
        "socketpair",
        "cursor",
        "urlopen",
        "Popen",
        "TemporaryFile",
        "NamedTemporaryFile",
        "SpooledTemporaryFile",
        "ZipFile",
        "TarFile",
        "Lock",
        "RLock",
        "Condition",
        "Semaphore",
        "Event",
        "Thread",
        "Session",
    }
)


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    reported: set[tuple[Scope, str]] = set()  # one warning per outer name
    for block in plan.blocks:
        if block.site is None:
            continue
        for name in block.effects.mutates:
            owner = block.scope.owner(name)
            if owner is None or (owner, name) in reported:
                continue
            outside = [binding for binding in owner.bindings[name] if block not in binding.blocks]
            what = next(
                ((found, binding.line) for binding in outside if (found := _unsaveable(plan, binding)) is not None),
                None,
            )
            if what is None:
                continue
            reported.add((owner, name))
            yield Diagnostic(
                "warning",
                plan.filename,
                block.site.line,
                block.column,
                f"block {block.site.label()} changes `{name}` in place, but `{name}` ({what[0]} at line "
                f"{what[1]}) is a handle whose state lives outside Python's objects: psflow cannot record the "
                f"change, and a replay leaves `{name}` as it was before the block",
                fix="if code after the block needs that change, make it outside the block "
                "(a mere side effect, like a write, needs nothing)",
            )


def _unsaveable(plan: ScriptPlan, binding: Binding) -> str | None:
    """What `binding` obviously binds that psflow cannot save ("a lambda", "open()"); None if nothing obvious."""
    value = binding.value
    if binding.kind not in ("assign", "with") or value is None:
        return None
    if isinstance(value, cst.Lambda):
        return "a lambda"
    if isinstance(value, cst.GeneratorExp):
        return "a generator"
    if isinstance(value, cst.Call):
        return _handle_maker(plan, value)
    return None


def _handle_maker(plan: ScriptPlan, call: cst.Call) -> str | None:
    """ "open()" for a call that makes a handle, as its qualified name (or its callee) says; None otherwise."""
    names = plan.qualified_names(call.func)
    short = callee(call.func)
    last = {name.rsplit(".", 1)[-1] for name in names} | ({short.rsplit(".", 1)[-1]} if short else set())
    if HANDLE_MAKERS.isdisjoint(last):
        return None
    shown = sorted(names)[0].removeprefix("builtins.") if names else short
    return f"{shown}()"
