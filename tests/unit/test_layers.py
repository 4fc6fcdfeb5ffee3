"""The layering is a rule, not a habit: each package imports only what is below it, and nothing cycles.

Imports are read from the source (module-level and inside functions, not under
`if TYPE_CHECKING:`), so a lazy import breaks a rule as much as an eager one.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import psflow

ROOT = Path(psflow.__file__).parent
VOCABULARY = {"psflow.errors", "psflow.domain", "psflow.keys", "psflow.durations", "psflow.clock", "psflow.hosts"}

# What each part of psflow must never import (a prefix forbids the module and everything under it).
FORBIDDEN = {
    "psflow.errors": {"psflow.", "peewee", "libcst"},
    "psflow.codec": {"psflow.", "peewee", "libcst"},
    "psflow.script": {
        "peewee",
        "libcst",
        "playhouse",
        "psflow.store",
        "psflow.transform",
        "psflow.runtime",
        "psflow.service",
        "psflow.cli",
        "psflow.loading",
        "psflow.api",
    },
    "psflow.transform": {
        "peewee",
        "playhouse",
        "psflow.store",
        "psflow.runtime",
        "psflow.service",
        "psflow.cli",
        "psflow.loading",
        "psflow.api",
        "psflow.codec",
    },
    "psflow.store": {
        "libcst",
        "psflow.transform",
        "psflow.script",
        "psflow.runtime",
        "psflow.service",
        "psflow.cli",
        "psflow.loading",
        "psflow.api",
    },
    "psflow.loading": {
        "peewee",
        "playhouse",
        "psflow.store",
        "psflow.runtime",
        "psflow.service",
        "psflow.cli",
        "psflow.api",
    },
    "psflow.runtime": {"libcst", "psflow.service", "psflow.cli", "psflow.api", "psflow.transform.rewriter"},
    "psflow.signing": {
        "peewee",
        "playhouse",
        "libcst",
        "psflow.store",
        "psflow.transform",
        "psflow.runtime",
        "psflow.service",
        "psflow.cli",
        "psflow.loading",
        "psflow.api",
    },
    "psflow.service": {"psflow.cli", "psflow.api"},
    "psflow.cli": {"peewee", "playhouse", "libcst", "psflow.store", "psflow.api"},
}


@functools.cache
def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


@functools.cache
def _imports(module: str, path: Path, *, top_level_only: bool = False) -> frozenset[str]:
    """Modules `module` imports (absolute names), leaving out `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST, nested: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import) and not (top_level_only and nested):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not (top_level_only and nested):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, nested or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))

    visit(tree, False)
    return frozenset(found)


def _area(module: str) -> str:
    return next(
        (area for area in sorted(FORBIDDEN, key=len, reverse=True) if module == area or module.startswith(area + ".")),
        "",
    )


def test_no_layer_imports_what_it_must_not() -> None:
    broken = []
    for module, path in _modules().items():
        area = _area(module)
        rules = FORBIDDEN.get(area, set())
        for name in _imports(module, path):
            if area and (name == area or name.startswith(area + ".")):
                continue  # a package's own modules (psflow.codec imports nothing else of psflow's)
            forbidden = any(
                name == rule.rstrip(".") or name.startswith(rule if rule.endswith(".") else rule + ".")
                for rule in rules
            )
            if forbidden and not (
                rules == FORBIDDEN["psflow.errors"] and name in VOCABULARY and _area(module) != "psflow.errors"
            ):
                broken.append(f"{module} imports {name}")
    assert broken == []


def test_vocabulary_modules_import_only_each_other() -> None:
    modules = _modules()
    for module in VOCABULARY:
        psflow_imports = {name for name in _imports(module, modules[module]) if name in modules}
        assert psflow_imports <= VOCABULARY, (module, psflow_imports - VOCABULARY)


def test_packages_import_each_other_without_cycles() -> None:
    """psflow's parts (script, transform, store, loading, runtime, service, cli, …) form no cycle."""
    graph: dict[str, set[str]] = defaultdict(set)
    parts = {part.split(".")[1] for part in _parts()}
    for module, path in _modules().items():
        part = ".".join(module.split(".")[:2])
        for name in _imports(module, path):
            if name.startswith("psflow.") and name.split(".")[1] in parts:
                other = ".".join(name.split(".")[:2])
                if other != part:
                    graph[part].add(other)
    assert _cycle(graph) is None


def test_modules_import_each_other_at_top_level_without_cycles() -> None:
    modules = _modules()
    graph = {
        module: {name for name in _imports(module, path, top_level_only=True) if name in modules and name != module}
        for module, path in modules.items()
    }
    for module, names in graph.items():  # importing a package's module imports the package first: not a cycle of ours
        names -= {name for name in names if module.startswith(name + ".")}
    assert _cycle(graph) is None


def _parts() -> set[str]:
    return {".".join(module.split(".")[:2]) for module in _modules() if module != "psflow"}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in `graph`, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for following in sorted(graph.get(node, ())):
            if state.get(following) == 1:
                return [*stack[stack.index(following) :], following]
            if following not in state and (found := visit(following)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None
