"""Source text → code object in which psflow blocks can be skipped and replayed.

Knows nothing of databases. Pure: the same source and file name always give the
same result, which is what makes the code cache (psflow.loader) safe.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from types import CodeType

from psflow.transform.diagnostics import Diagnostic, TransformError

__all__ = ["CompiledScript", "Diagnostic", "TransformError", "compile_script", "TRANSFORM_VERSION"]

# Bump when the generated code changes shape: it is part of the code cache key.
TRANSFORM_VERSION = 1


@dataclass(frozen=True)
class CompiledScript:
    """What runs (`code`), the source it came from (`text`, for `psflow show`), and how many blocks."""

    code: CodeType
    text: str
    block_count: int


def compile_script(source: str, filename: str) -> CompiledScript:
    """Rewrite the blocks in `source` and compile it with `filename`'s own lines and columns.

    Raises TransformError for a syntax error or a block psflow cannot run.
    """
    from psflow.transform.locations import compile_mapped
    from psflow.transform.shorthand import expand_shorthand

    expanded, shifts = expand_shorthand(source)
    tree = _parse(expanded, source, filename)
    if "block" not in expanded:
        return CompiledScript(compile(tree, filename, "exec", dont_inherit=True), source, 0)

    import libcst as cst  # only on a cache miss: it is the slowest import psflow has
    from libcst.metadata import MetadataWrapper

    from psflow.transform.rewriter import BlockRewriter

    try:
        module = cst.parse_module(expanded)
    except cst.ParserSyntaxError as error:
        raise _syntax_error(filename, source, error.raw_line, error.raw_column + 1, error.message) from None
    rewriter = BlockRewriter(filename, expanded.splitlines())
    rewritten = MetadataWrapper(module, unsafe_skip_copy=True).visit(rewriter)
    if rewriter.diagnostics:
        raise TransformError(rewriter.diagnostics)
    if rewriter.block_count == 0:
        return CompiledScript(compile(tree, filename, "exec", dont_inherit=True), source, 0)
    text = rewritten.code
    code = compile_mapped(text, filename, [*shifts, *rewriter.return_shifts])
    return CompiledScript(code, text, rewriter.block_count)


def _parse(expanded: str, source: str, filename: str) -> ast.Module:
    try:
        return ast.parse(expanded, filename)
    except SyntaxError as error:
        raise _syntax_error(filename, source, error.lineno or 1, error.offset or 1, error.msg) from None


def _syntax_error(filename: str, source: str, line: int, column: int, message: str) -> TransformError:
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return TransformError([Diagnostic("error", filename, line, column, f"syntax error: {message}", text)])
