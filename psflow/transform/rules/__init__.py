"""The checks of a script's blocks, run whenever it is compiled and listed by `psflow check`.

One rule per module, each a function with one job: it reads the plan
(psflow.transform.plan) and yields Diagnostics, each with its fix. Positions are
in the plan's text (the shorthand expanded); psflow.transform moves them to the
user's file. Each rule is a static approximation, simple on purpose:

* errors, which stop the script from running:
  - block_statements: a `with` that uses psflow's `block` in a way psflow cannot run
    (two blocks in one `with`, `async with block`, a shorthand `block` that is the script's own);
  - block_calls: a `block(...)` call psflow cannot rewrite (no single str name, unknown or
    bad options, a retried body on the header line);
  - unsupported: what a block cannot replay (def, class, yield, await, `import *`);
  - duplicate_names: the same literal name twice on one path;
* warnings, about what a resumed job would do differently:
  - loop_names: a literal name inside a loop;
  - nondeterminism: a value that differs on every attempt decides which blocks run, or names one;
  - unsaveable_mutations: a block changes in place an outer object psflow cannot save;
  - process_state: a block changes the Python process (sys.path, warnings filters, …).
  - class_factories: a block makes a class with a call (namedtuple(...), type(name, bases, ns)).
  - mapped_globals: an `@block` function run by `map` (in threads) rebinds a global or nonlocal name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.plan import ScriptPlan
from psflow.transform.rules import (
    block_calls,
    block_statements,
    class_factories,
    duplicate_names,
    loop_names,
    mapped_globals,
    nondeterminism,
    process_state,
    unsaveable_mutations,
    unsupported,
)

Rule = Callable[[ScriptPlan], Iterable[Diagnostic]]

# In this order where two findings share a position.
RULES: tuple[Rule, ...] = (
    block_statements.check,
    block_calls.check,
    unsupported.check,
    duplicate_names.check,
    loop_names.check,
    nondeterminism.check,
    unsaveable_mutations.check,
    process_state.check,
    class_factories.check,
    mapped_globals.check,
)


def check_plan(plan: ScriptPlan) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """The errors and the warnings every rule finds in `plan`, each by position."""
    found = sorted((d for rule in RULES for d in rule(plan)), key=lambda d: (d.line, d.column))
    return [d for d in found if d.severity == "error"], [d for d in found if d.severity == "warning"]
