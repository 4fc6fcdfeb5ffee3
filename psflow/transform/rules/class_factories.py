"""Rule (warning): a block makes a class with a call (`namedtuple(...)`, `type(name, bases, ns)`).

A class cannot be saved, so a replay leaves the name it was bound to unbound; and a value of
that class that a block saves (a `Point(1, 2)`) is looked up by the class's name when it is
given back, which then finds nothing: every resume of the job would fail there. A `class`
statement in a block is refused for the same reason (rule unsupported); a call that makes a
class is only found by its qualified name, so it is a warning.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.plan import Finder, ScriptPlan

# Calls that return a new class (qualified names).
FACTORIES = frozenset(
    {
        "collections.namedtuple",
        "typing.NamedTuple",
        "typing.TypedDict",
        "typing.NewType",
        "dataclasses.make_dataclass",
        "enum.Enum",
        "enum.IntEnum",
        "enum.StrEnum",
        "enum.Flag",
        "enum.IntFlag",
        "types.new_class",
    }
)


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    for block, call, name in plan.innermost(_Factories):
        assert block.site is not None
        yield plan.warning(
            call,
            f"block {block.site.label()} makes a class ({name}()): a class cannot be saved, so a replay "
            "leaves it unbound, and a value of it that a block saved cannot be given back",
            fix="make the class before the block (it then exists on every attempt)",
        )


class _Factories(Finder):
    def visit_Call(self, node: cst.Call) -> None:
        names = self.plan.qualified_names(node.func)
        made = sorted(names & FACTORIES)
        if not made and "builtins.type" in names and len(node.args) == 3:  # type(x) only asks
            made = ["type"]
        if made:
            self.found.append((node, made[0]))
