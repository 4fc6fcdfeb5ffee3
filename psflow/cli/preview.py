"""How `psflow check` and `psflow resume --dry-run` print (see psflow.cli.render for the rules:
rich tables on a terminal, plain text in pipes, no ANSI styles with NO_COLOR)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psflow.cli.render import echo, table

if TYPE_CHECKING:
    from psflow.service.preflight import CheckResult, JobPlan


def print_check(result: CheckResult) -> None:
    """The blocks found, then each error and warning with its source line and fix, then a count."""
    if result.sites:
        rows = [
            [
                str(site.line),
                f"{site.name} (dynamic)" if site.dynamic else repr(site.name),
                ", ".join(site.binds) or "-",
                ", ".join(site.reads) or "-",
            ]
            for site in result.sites
        ]
        table(f"{result.file}: {len(result.sites)} block(s)", ["LINE", "BLOCK", "BINDS", "READS"], rows)
    if result.functions:
        rows = [
            [str(f.line), repr(f.name) if f.name is not None else "(computed name)", f"{f.function}()"]
            for f in result.functions
        ]
        title = f"{result.file}: {len(result.functions)} @block function(s), each call a block keyed by its arguments"
        table(title, ["LINE", "BLOCK", "FUNCTION"], rows)
    if not result.sites and not result.functions:
        echo(f"{result.file}: no blocks found")
    for diagnostic in result.diagnostics:
        echo(diagnostic.format(), keep="\n")  # its lines: where, the source line, the fix
    errors, warnings = len(result.errors), len(result.warnings)
    echo(f"{errors} error(s), {warnings} warning(s)" if errors or warnings else "no problems found")


def print_plan(plan: JobPlan) -> None:
    """One job of a dry run: what its next attempt would do with each block."""
    head = f"job {plan.job_id} ({plan.status}, {plan.script})"
    if plan.skipped:
        echo(f"{head}: {plan.skipped}")
        return
    if plan.error:
        echo(f"{head}: would not run: {plan.error}")
        return
    echo(f"{head}: attempt {plan.attempt} would do this")
    if plan.note:
        echo(f"note: {plan.note}")
    if not plan.blocks:
        echo("  (no blocks)")
        return
    rows = [
        [block.action, block.name, str(block.line) if block.line is not None else "-", block.detail]
        for block in plan.blocks
    ]
    table(None, ["ACTION", "BLOCK", "LINE", "WHY"], rows)
