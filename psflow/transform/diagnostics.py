"""Findings about a script, located in the user's file, each with what to do about it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from psflow.errors import PsflowError

if TYPE_CHECKING:
    from psflow.transform.sites import BlockFunction, BlockSite


@dataclass(frozen=True)
class Diagnostic:
    """One finding: `severity` is "error" or "warning"; `line`/`column` are 1-based."""

    severity: str
    filename: str
    line: int
    column: int
    message: str
    source_line: str = ""
    fix: str = ""  # what to do about it, in one line (shown by `psflow check`, and after the source line)
    # How compile_script raises it, so what `psflow exec` prints: the fix on a line of its own ("apart"),
    # as the message's second half ("joined": "what; what to do", as the rewriter's refusals read), or
    # left out ("omitted": the message says enough there, and `psflow check` adds the fix).
    fix_when_raised: str = field(default="apart", compare=False, repr=False)

    def format(self) -> str:
        where = f"{self.filename}:{self.line}:{self.column}"
        text = f"{where}: {self.severity}: {self.message}"
        if self.source_line.strip():
            text += f"\n    {self.source_line.strip()}"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text

    def raised(self) -> Diagnostic:
        """This diagnostic as compile_script raises it (see `fix_when_raised`)."""
        if self.fix_when_raised == "joined" and self.fix:
            return replace(self, message=f"{self.message}; {self.fix}", fix="", fix_when_raised="apart")
        if self.fix_when_raised == "omitted":
            return replace(self, fix="", fix_when_raised="apart")
        return self


class TransformError(PsflowError):
    """The script cannot be run as written; `diagnostics` says where and why.

    `diagnostics` are as raised (and printed by `psflow exec`); `findings` are the same
    diagnostics as made, each with its fix apart (what `psflow check` shows). When the
    script could be analysed, `sites` (psflow.transform.sites.BlockSite) and `warnings`
    say what else was found, for `psflow check`.
    """

    sites: tuple[BlockSite, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()
    functions: tuple[BlockFunction, ...] = ()

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.findings = tuple(diagnostics)
        self.diagnostics = [diagnostic.raised() for diagnostic in diagnostics]
        super().__init__("\n".join(d.format() for d in self.diagnostics))
