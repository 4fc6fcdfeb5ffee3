"""Helpers for the rule tests: what compiling and checking a dedented source reports."""

from __future__ import annotations

from textwrap import dedent

import pytest

from psflow.transform import TransformError, check_script, compile_script


def text(source: str) -> str:
    """Dedented, without the newline after the opening quotes: line 1 is the first line written."""
    return dedent(source).removeprefix("\n")


def found(source: str, severity: str) -> list[tuple[int, str]]:
    """(line, message) of each diagnostic of `severity` that `psflow check` reports for `source`."""
    return [(d.line, d.message) for d in check_script(text(source), "flow.py").diagnostics if d.severity == severity]


def errors(source: str) -> list[tuple[int, str]]:
    return found(source, "error")


def warnings(source: str) -> list[tuple[int, str]]:
    return found(source, "warning")


def raised(source: str) -> list[tuple[int, int, str]]:
    """(line, column, message) of each diagnostic compiling `source` raises (what `psflow exec` prints)."""
    with pytest.raises(TransformError) as caught:
        compile_script(text(source), "flow.py")
    return [(d.line, d.column, d.message) for d in caught.value.diagnostics]
