"""Findings about a script, located in the user's file."""

from __future__ import annotations

from dataclasses import dataclass

from psflow.errors import PsflowError


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

    def format(self) -> str:
        where = f"{self.filename}:{self.line}:{self.column}"
        text = f"{where}: {self.severity}: {self.message}"
        if self.source_line.strip():
            text += f"\n    {self.source_line.strip()}"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


class TransformError(PsflowError):
    """The script cannot be run as written; `diagnostics` says where and why.

    When the script could be analysed, `sites` (psflow.transform.sites.BlockSite)
    and `warnings` say what else was found, for `psflow check`.
    """

    sites: tuple = ()
    warnings: tuple = ()

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))
