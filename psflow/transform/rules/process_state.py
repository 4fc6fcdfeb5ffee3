"""Rule (warning): a block changes the state of the Python process, which a replay does not redo.

A replayed block's body does not run, so what it did to the interpreter itself is
missing from every later attempt: `sys.path` and `sys.modules`, warnings filters,
`sys.setrecursionlimit`, the default socket timeout, signal handlers, logging's
configuration, the locale, the umask, names bound through `globals()[...]`, and
whatever `exec` does. (The working directory and environment variables are
different: psflow records and redoes those itself, psflow.runtime.process_state.)

Found by the qualified name of a call, or of the target of an assignment, directly
in the block's body; each finding is reported once, for the innermost block.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from psflow.transform.diagnostics import Diagnostic
from psflow.transform.plan import Finder, ScriptPlan

# Calls that change the process (qualified names; a prefix ending in "." stands for its methods).
CHANGING_CALLS = frozenset(
    {
        "sys.setrecursionlimit",
        "sys.setswitchinterval",
        "sys.settrace",
        "sys.setprofile",
        "sys.set_int_max_str_digits",
        "warnings.filterwarnings",
        "warnings.simplefilter",
        "warnings.resetwarnings",
        "socket.setdefaulttimeout",
        "signal.signal",
        "logging.basicConfig",
        "logging.disable",
        "locale.setlocale",
        "os.umask",
        "builtins.exec",
    }
)
CHANGED_OBJECTS = ("sys.path.", "sys.modules.", "sys.meta_path.", "sys.path_hooks.")
# Assigning to these (or to an item of them) changes the process.
CHANGED_TARGETS = ("sys.path", "sys.modules", "sys.stdout", "sys.stderr", "sys.stdin", "sys.excepthook")


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    for block, node, what in plan.innermost(_Changes):
        assert block.site is not None
        yield plan.warning(
            node,
            f"block {block.site.label()} changes the Python process ({what}): a replay does not run the block, "
            "so later attempts go on without that change",
            fix="make the change outside the block (it then runs on every attempt)",
        )


class _Changes(Finder):
    """Calls and assignments in a block's body that change the process, with what they change."""

    def visit_Call(self, node: cst.Call) -> None:
        names = self.plan.qualified_names(node.func)
        changing = sorted(name for name in names if name in CHANGING_CALLS or name.startswith(CHANGED_OBJECTS))
        if changing:
            self.found.append((node, f"{changing[0].removeprefix('builtins.')}()"))

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._target(target.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def _target(self, target: cst.BaseExpression) -> None:
        item = isinstance(target, cst.Subscript)
        if isinstance(target, cst.Subscript):
            if _is_globals_call(target.value):
                self.found.append((target, "a name bound through globals()[...]"))
                return
            target = target.value
        names = self.plan.qualified_names(target)
        changed = sorted(name for name in names if name in CHANGED_TARGETS)
        if changed:
            self.found.append((target, f"{changed[0]}{'[...]' if item else ''} assigned"))


def _is_globals_call(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "globals"
