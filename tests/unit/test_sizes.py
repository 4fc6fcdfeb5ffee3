"""Small modules and short functions are a rule, not a habit (issue 9): a module grows past
MAX_MODULE_LINES only when it is one cohesive thing, listed below with why; no function does."""

from __future__ import annotations

import ast
from pathlib import Path

import psflow

ROOT = Path(psflow.__file__).parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # from `def` to the last line of the body: signature and docstring count

# Modules allowed past MAX_MODULE_LINES, relative to psflow/, each with why.
ALLOWED = {}


def _sources() -> dict[str, str]:
    return {path.relative_to(ROOT).as_posix(): path.read_text() for path in sorted(ROOT.rglob("*.py"))}


def test_no_module_is_longer_than_the_limit_unless_allowed() -> None:
    long = {
        name: len(text.splitlines())
        for name, text in _sources().items()
        if len(text.splitlines()) > MAX_MODULE_LINES and name not in ALLOWED
    }
    assert long == {}, f"split these along a seam (or, one cohesive thing, list them in ALLOWED with why): {long}"


def test_every_allowed_module_exists() -> None:
    assert sorted(set(ALLOWED) - set(_sources())) == []


def test_no_function_is_longer_than_the_limit() -> None:
    long = [
        f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, text in _sources().items()
        for node in ast.walk(ast.parse(text, name))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], "split these into functions that each do one thing"
