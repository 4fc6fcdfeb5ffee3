"""Block sites and warnings, kept inside the compiled code so a warm run has them without libcst.

`psflow check` lists the sites, `psflow exec` prints the warnings before the first
statement, and `psflow resume --dry-run` compares the sites with a job's records.
They are computed once, when the script is compiled (psflow.transform.plan), and
stored as one extra constant at the end of the module code object's `co_consts`:
nothing references it, so it changes nothing at run time, and the code cache
(psflow.loader, a marshalled code object) keeps it for free.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import CodeType

from psflow.transform.diagnostics import Diagnostic

_TAG = "psflow.transform.sites/2"
FINGERPRINT_LENGTH = 16  # hex digits of sha256: 64 bits, plenty to notice an edit


@dataclass(frozen=True)
class BlockSite:
    """One `with block(NAME):` of a script, in source order."""

    name: str  # the literal name, or (when `dynamic`) the source text of the name expression
    dynamic: bool
    line: int
    binds: tuple[str, ...]  # names the body binds (saved and given back on replay)
    reads: tuple[str, ...]  # names the block uses whose values come from outside it
    fingerprint: str  # of the block's own source text, dedented
    end_line: int = 0  # its last line (a block between `line` and `end_line` is inside it)

    def label(self) -> str:
        """How a message names the block: `'Step1'`, or the expression for a dynamic name."""
        return self.name if self.dynamic else repr(self.name)


@dataclass(frozen=True)
class BlockFunction:
    """One `@block(NAME)` function: each call of it is a block of its own, keyed by its arguments."""

    name: str | None  # the literal block name; None when it is computed
    function: str
    line: int  # of its `@block` decorator


@dataclass(frozen=True)
class ScriptReport:
    """What compiling a script found out about it, besides the code."""

    sites: tuple[BlockSite, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()
    functions: tuple[BlockFunction, ...] = ()

    @property
    def callables(self) -> tuple[str | None, ...]:
        """The block names of the `@block` functions (None: not a literal)."""
        return tuple(function.name for function in self.functions)

    @property
    def dynamic(self) -> bool:
        """Can a block name be computed at run time (so no list of names is complete)?"""
        return any(site.dynamic for site in self.sites) or None in self.callables


def fingerprint(lines: list[str], first: int, last: int) -> str:
    """Fingerprint of lines `first`..`last` (1-based, inclusive): sha256 of the dedented text.

    Line endings are normalised, so a checkout with CRLF does not change every block;
    any other edit, comments and blank lines included, counts as a change.
    """
    import textwrap

    text = "".join(line.rstrip("\r\n") + "\n" for line in lines[first - 1 : last])
    return hashlib.sha256(textwrap.dedent(text).encode()).hexdigest()[:FINGERPRINT_LENGTH]


def attach(code: CodeType, report: ScriptReport) -> CodeType:
    """`code` carrying `report` (plain constants only, so marshal keeps it)."""
    sites = tuple((s.name, s.dynamic, s.line, s.binds, s.reads, s.fingerprint, s.end_line) for s in report.sites)
    warnings = tuple(
        (d.severity, d.filename, d.line, d.column, d.message, d.source_line, d.fix) for d in report.warnings
    )
    functions = tuple((f.name, f.function, f.line) for f in report.functions)
    return code.replace(co_consts=(*code.co_consts, (_TAG, sites, warnings, functions)))


def report_of(code: CodeType) -> ScriptReport:
    """The report `attach` put into `code`; an empty one for code compiled without blocks."""
    last = code.co_consts[-1] if code.co_consts else None
    if not (isinstance(last, tuple) and len(last) == 4 and last[0] == _TAG):
        return ScriptReport()
    _, sites, warnings, functions = last
    return ScriptReport(
        tuple(BlockSite(*site) for site in sites),
        tuple(
            Diagnostic(severity, filename, line, column, message, source_line, fix)
            for severity, filename, line, column, message, source_line, fix in warnings
        ),
        tuple(BlockFunction(*function) for function in functions),
    )
