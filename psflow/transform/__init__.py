"""Source text → code object in which psflow blocks can be skipped and replayed.

Knows nothing of databases. Pure: the same source and file name always give the
same result, which is what makes the code cache (psflow.loader) safe.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType
from typing import TYPE_CHECKING

from psflow.transform.diagnostics import Diagnostic, TransformError
from psflow.transform.sites import BlockFunction, BlockSite, ScriptReport, attach, report_of

if TYPE_CHECKING:
    from psflow.transform.locations import Layer

__all__ = [
    "TRANSFORM_VERSION",
    "BlockFunction",
    "BlockSite",
    "CompiledScript",
    "Diagnostic",
    "ScriptCheck",
    "ScriptReport",
    "TransformError",
    "check_script",
    "compile_script",
    "report_of",
]

# Bump when the generated code changes shape: it is part of the code cache key.
# 11: names given to a call are watched for changes; 10: map keys (`Name[item]`) refused as block names;
# 9: @block functions listed in the report, handles deleted after their block; 8: block names shaped
# like call keys refused; 7: dunder-shaped handles; 6: imports rerun
TRANSFORM_VERSION = 11


@dataclass(frozen=True)
class CompiledScript:
    """What runs (`code`), the source it came from (`text`, for `psflow show`), and how many blocks."""

    code: CodeType
    text: str
    block_count: int
    sites: tuple[BlockSite, ...] = ()  # each block, in source order (psflow.transform.plan)
    warnings: tuple[Diagnostic, ...] = ()  # what `psflow check` warns about; `code` carries them too
    functions: tuple[BlockFunction, ...] = ()  # the `@block(NAME)` functions, in source order


@dataclass(frozen=True)
class ScriptCheck:
    """What `psflow check` reports: the blocks and `@block` functions found, and every error and
    warning, by line."""

    sites: tuple[BlockSite, ...]
    diagnostics: tuple[Diagnostic, ...]
    functions: tuple[BlockFunction, ...] = ()

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def compile_script(source: str, filename: str) -> CompiledScript:
    """Rewrite the blocks in `source` and compile it with `filename`'s own lines and columns.

    Raises TransformError for a syntax error or a block psflow cannot run.
    """
    try:
        return _compile_script(source, filename)
    except RecursionError:  # libcst walks the tree recursively: a huge nested literal can exhaust the stack
        message = "too deeply nested for psflow's rewriter: split the deepest expression, or move it to a module"
        raise TransformError([Diagnostic("error", filename, 1, 1, message)]) from None


def _compile_script(source: str, filename: str) -> CompiledScript:
    from psflow.transform.locations import Layer, compile_mapped, located
    from psflow.transform.shorthand import expand_shorthand

    expanded, shorthand = expand_shorthand(source)
    tree = _parse(expanded, source, filename, shorthand)
    if "block" not in expanded:
        return _unchanged(tree, source, filename)

    import libcst as cst  # only on a cache miss: it is the slowest import psflow has

    from psflow.transform.plan import plan_script
    from psflow.transform.rewriter import rewrite
    from psflow.transform.rules import check_plan

    try:
        module = cst.parse_module(expanded)
    except cst.ParserSyntaxError as error:  # Python accepted it (see _parse): a gap in libcst's grammar
        diagnostic = Diagnostic(
            "error",
            filename,
            error.raw_line,
            error.raw_column + 1,
            "psflow's rewriter (libcst) cannot read this valid Python",
            fix=f"write it another way ({error.message})",
            fix_when_raised="joined",
        )
        raise TransformError(located([diagnostic], source, shorthand)) from None
    plan = plan_script(module, expanded, filename, shorthand.lines())
    errors, warnings = check_plan(plan)
    report = ScriptReport(tuple(plan.sites), tuple(located(warnings, source, shorthand)), tuple(plan.functions))
    if errors:
        raise _with_report(TransformError(located(errors, source, shorthand)), report)
    if not plan.blocks:  # so no shorthand either: `expanded` is `source`
        return _unchanged(tree, source, filename, report)
    rewritten, insertions = rewrite(module, plan)
    text = rewritten.code
    try:
        code = _compile(lambda: compile_mapped(text, filename, source, Layer(insertions), shorthand), source, filename)
    except TransformError as error:
        raise _with_report(error, report) from None
    return CompiledScript(attach(code, report), text, len(plan.blocks), report.sites, report.warnings, report.functions)


def check_script(source: str, filename: str) -> ScriptCheck:
    """`psflow check`: the blocks of `source` and every error and warning about them.

    Never raises for the script's own problems: the errors compile_script would
    raise are in the result, with the warnings, by line.
    """
    try:
        compiled = compile_script(source, filename)
    except TransformError as error:
        diagnostics = sorted([*error.findings, *error.warnings], key=lambda d: (d.line, d.column))
        return ScriptCheck(tuple(error.sites), tuple(diagnostics), tuple(error.functions))
    return ScriptCheck(compiled.sites, compiled.warnings, compiled.functions)


def _with_report(error: TransformError, report: ScriptReport) -> TransformError:
    """`error`, carrying what was found besides (for `psflow check`)."""
    error.sites, error.warnings, error.functions = report.sites, report.warnings, report.functions
    return error


def _unchanged(tree: ast.Module, source: str, filename: str, report: ScriptReport | None = None) -> CompiledScript:
    """No `with` blocks: the user's own text, compiled as it is (carrying what was found, if anything:
    `@block` functions and their warnings)."""
    code = _compile(lambda: compile(tree, filename, "exec", dont_inherit=True), source, filename)
    if report is None:
        return CompiledScript(code, source, 0)
    return CompiledScript(attach(code, report), source, 0, (), report.warnings, report.functions)


def _parse(expanded: str, source: str, filename: str, shorthand: Layer) -> ast.Module:
    from psflow.transform.locations import located

    try:
        return ast.parse(expanded, filename)
    except SyntaxError as error:
        # "expected an indented block after 'with' statement on line 3": the user wrote `block "N":` there.
        message = re.sub(
            r"'with' statement on line (\d+)",
            lambda match: f"block on line {match[1]}" if int(match[1]) in shorthand else match[0],
            error.msg,
        )
        diagnostic = _syntax(filename, error.lineno or 1, error.offset or 1, message)
        raise TransformError(located([diagnostic], source, shorthand)) from None


def _compile(compile_tree: Callable[[], CodeType], source: str, filename: str) -> CodeType:
    """Run `compile_tree`, turning the compiler's own checks ('return' outside function, …) into a TransformError.

    Its positions are already the user's, but its column counts UTF-8 bytes.
    """
    try:
        return compile_tree()
    except SyntaxError as error:
        from psflow.transform.locations import located, split_lines

        lines = split_lines(source)
        line = error.lineno or 1
        column = error.offset or 1
        if 0 < line <= len(lines):
            column = len(lines[line - 1].encode()[: column - 1].decode(errors="ignore")) + 1
        raise TransformError(located([_syntax(filename, line, column, error.msg)], source)) from None


def _syntax(filename: str, line: int, column: int, message: str) -> Diagnostic:
    return Diagnostic(
        "error",
        filename,
        line,
        column,
        f"syntax error: {message}",
        fix="correct the Python syntax at this position",
        fix_when_raised="omitted",
    )
