"""How the CLI prints: rich tables and highlighting on a terminal, plain text otherwise.

`NO_COLOR` is respected (by rich). psflow's own messages go to stderr so that a
script's stdout stays the script's.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def say(message: str, *, error: bool = False) -> None:
    """A psflow message on stderr."""
    print(f"psflow: {message}", file=sys.stderr)


def when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def _tty() -> bool:
    return sys.stdout.isatty()


def _table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    if _tty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max([len(column), *(len(row[i]) for row in rows)]) for i, column in enumerate(columns)]
    if title:
        print(title)
    for row in [columns, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def print_jobs(jobs: list[dict[str, Any]]) -> None:
    if not jobs:
        print("no jobs")
        return
    rows = [
        [job["id"], job["script"], job["status"], str(job["attempts"]), when(job["updated"]), job["host"] or "-"]
        for job in jobs
    ]
    _table(None, ["ID", "SCRIPT", "STATUS", "ATTEMPTS", "UPDATED", "HOST"], rows)


def print_job(job: dict[str, Any]) -> None:
    lines = [
        f"job       {job['id']}",
        f"script    {job['script']} {' '.join(job['args'])}".rstrip(),
        f"status    {job['status']}" + (f" ({job['reason']})" if job["reason"] else ""),
        f"attempts  {job['attempts']}",
        f"created   {when(job['created'])}",
        f"updated   {when(job['updated'])}",
        f"last host {job['host'] or '-'}",
    ]
    print("\n".join(lines))
    print()
    rows = [
        [block["name"], block["status"], str(block["attempt"]), f"{block['duration']:.3f}s", block["host"]]
        for block in job["blocks"]
    ]
    if rows:
        _table("blocks", ["BLOCK", "STATUS", "ATTEMPT", "DURATION", "HOST"], rows)
    else:
        print("no blocks recorded yet")


def print_source(text: str, *, diff: bool) -> None:
    if not _tty():
        sys.stdout.write(text)
        return
    from rich.console import Console
    from rich.syntax import Syntax

    Console().print(Syntax(text, "diff" if diff else "python", line_numbers=not diff))
