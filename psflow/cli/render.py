"""How the CLI prints results: rich tables and highlighting on a terminal, plain text otherwise.

`NO_COLOR` is respected: no ANSI styles at all (rich alone would still print bold).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def console(*, stderr: bool = False, **options: Any):
    """A rich console; with NO_COLOR set, one that writes no ANSI styles whatsoever."""
    from rich.console import Console

    return Console(stderr=stderr, color_system=None if os.environ.get("NO_COLOR") else "auto", **options)


def when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def tty() -> bool:
    return sys.stdout.isatty()


def table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    if tty():
        from rich.table import Table

        table = Table(title=title, show_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console().print(table)
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
        [job["id"], job["script"], job["status"], job.get("waits") or "-", str(job["attempts"]), when(job["updated"]),
         job["host"] or "-"]
        for job in jobs
    ]
    table(None, ["ID", "SCRIPT", "STATUS", "WAITS FOR", "ATTEMPTS", "UPDATED", "HOST"], rows)


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
    if job.get("waits"):
        lines.insert(4, f"waits for {job['waits']}")
    print("\n".join(lines))
    print()
    rows = [
        [block["name"], block["status"], str(block["attempt"]), f"{block['duration']:.3f}s", block["host"]]
        for block in job["blocks"]
    ]
    if rows:
        table("blocks", ["BLOCK", "STATUS", "ATTEMPT", "DURATION", "HOST"], rows)
    else:
        print("no blocks recorded yet")
    _print_inputs(job.get("inputs") or [])


def _print_inputs(inputs: list[dict[str, Any]]) -> None:
    """Input sent to the job (`psflow send`): value as JSON, so "3" and 3 look different."""
    if not inputs:
        return
    import json

    rows = []
    for sent in inputs:
        value = json.dumps(sent["value"], ensure_ascii=False)
        rows.append([sent["name"], value if len(value) <= 60 else value[:59] + "…", sent["user"], sent["host"], when(sent["received"])])
    print()
    table("inputs", ["INPUT", "VALUE", "USER", "HOST", "RECEIVED"], rows)


def print_source(text: str, *, diff: bool) -> None:
    if not tty():
        sys.stdout.write(text)
        return
    from rich.syntax import Syntax

    console().print(Syntax(text, "diff" if diff else "python", line_numbers=not diff))


def print_workflows(workflows: list[dict[str, Any]]) -> None:
    if not workflows:
        print("no registered workflows: `psflow register NAME SCRIPT` adds one")
        return
    rows = [
        [wf["name"], f"v{wf['version']}", str(wf["versions"]), when(wf["registered"]), wf["user"], wf["host"],
         wf["script"]]
        for wf in workflows
    ]
    table(None, ["NAME", "LATEST", "VERSIONS", "REGISTERED", "BY", "ON", "FROM"], rows)


def print_workflow_versions(versions: list[dict[str, Any]]) -> None:
    rows = [
        [f"v{wf['version']}", when(wf["registered"]), wf["user"], wf["host"], wf["source_sha256"][:12], wf["script"]]
        for wf in versions
    ]
    table(f"workflow {versions[0]['name']}", ["VERSION", "REGISTERED", "BY", "ON", "SHA256", "FROM"], rows)




def print_status(report: dict[str, Any]) -> None:
    """`psflow status` for people: counts, then each list that has something in it."""
    counts = report["counts"]
    print("jobs  " + (", ".join(f"{count} {status}" for status, count in counts.items()) or "none"))
    now = time.time()
    sections = [
        ("waiting for input", ["JOB", "NAME", "INPUT", "SINCE"], [
            [row["id"], row["name"], row["input"], _ago(row["since"], now)] for row in report["waiting_for_input"]
        ]),
        ("timers due within the hour", ["JOB", "NAME", "DUE"], [
            [row["id"], row["name"], when(row["due"])] for row in report["timers_next_hour"]
        ]),
        ("Running, but the lease lapsed or the runner is gone (`psflow resume --status Running`)",
         ["JOB", "NAME", "HOST", "PID", "LEASE UNTIL"], [
            [row["id"], row["name"], row["host"] or "-", str(row["pid"]),
             "runner gone" if row["runner_gone"] else when(row["lease_until"])]
            for row in report["lapsed_leases"]
        ]),
        ("failed in the last 24 hours", ["JOB", "NAME", "WHEN", "REASON"], [
            [row["id"], row["name"], when(row["updated"]), row["reason"] or "-"] for row in report["failed_last_24h"]
        ]),
    ]
    for title, columns, rows in sections:
        if rows:
            print()
            table(title, columns, rows)


def _ago(epoch: float | None, now: float) -> str:
    if epoch is None:
        return "-"
    from psflow.durations import describe_duration

    return f"{describe_duration(max(0, round(now - epoch)))} ago"
