"""How the CLI prints results: rich tables and highlighting on a terminal, plain text otherwise.

`NO_COLOR` is respected: no ANSI styles at all (rich alone would still print bold).

Every string that came from the database (or a script) is printed through `shown`,
on a terminal and in pipes alike: whoever can write a job's name, reason or output
must not be able to clear a screen, plant a link or rewrite a line on the reader's
terminal. On a terminal, data goes to rich as `Text`, never as markup, so
`block(f"backup [{folder}]")` prints as written. `--json` is exact.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from psflow.domain import DEFAULT_QUEUE

# C0 and C1 control characters and DEL; line and paragraph separators; the bidirectional
# overrides and isolates that make a terminal show text in another order than it is stored.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(text: str, *, keep: str = "") -> str:
    """`text` safe to print: each control character (but those in `keep`) as its Python escape.

    ESC becomes `\\x1b`, a carriage return `\\r`, a right-to-left override `\\u202e`. A
    backslash stays as it is (Windows paths read normally), so a shown string may also have
    held those characters literally: `--json` tells them apart. Shown twice, a string does
    not change again.
    """

    if text.isprintable():  # every character _UNSAFE matches is unprintable: nothing to escape (fast)
        return text

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char in keep:
            return char
        code = ord(char)
        return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

    return _UNSAFE.sub(escape, text)


def echo(text: str = "", *, keep: str = "") -> None:
    """One piece of human-readable output on stdout, escaped (see `shown`)."""
    print(shown(text, keep=keep))


def console(*, stderr: bool = False, **options: Any):
    """A rich console; with NO_COLOR set, one that writes no ANSI styles whatsoever."""
    from rich.console import Console

    return Console(stderr=stderr, color_system=None if os.environ.get("NO_COLOR") else "auto", **options)


def when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def tty() -> bool:
    return sys.stdout.isatty()


RICH_ROWS = 200  # a longer table is printed as plain aligned text on a terminal too: rich lays out every cell


def table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal, aligned plain text otherwise (or when long); every cell and the title escaped."""
    rows = [row if "".join(row).isprintable() else [shown(cell) for cell in row] for row in rows]  # fast when clean
    title = shown(title) if title else None
    if tty() and len(rows) <= RICH_ROWS:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(title) if title else None, show_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        console().print(table)
        return
    widths = [len(column) for column in columns]
    if rows:
        widths = [max(width, *map(len, cells)) for width, cells in zip(widths, zip(*rows, strict=True), strict=True)]
    line = "  ".join(f"{{:<{width}}}" for width in widths).format
    if title:
        print(title)
    sys.stdout.write("".join(line(*row).rstrip() + "\n" for row in [columns, *rows]))


def paged_table(title: str | None, columns: list[str], rows: list[list[str]], *, page: int | None) -> None:
    """`table` of the last `page` rows (all if None), after a line saying how many it left out."""
    if page is not None and len(rows) > page:
        echo(f"… {len(rows) - page:,} earlier rows: --all lists them")
        rows = rows[-page:]
    table(title, columns, rows)


def print_json(value: Any) -> None:
    """What `print(json.dumps(value, indent=2))` prints, written a few thousand pieces at a time as
    they are made: the text of a big job is never whole in memory. json's own indenting encoder is
    pure Python (~10 s for a job of 100,000 blocks): `_indented` hands each dict or list of plain
    values to json's C encoder instead, whose item separator carries the line break and indentation."""
    pieces: list[str] = []
    for piece in _indented(value, "\n"):
        pieces.append(piece)
        if len(pieces) >= 8192:
            sys.stdout.write("".join(pieces))
            pieces.clear()
    sys.stdout.write("".join(pieces) + "\n")


_PLAIN = frozenset({str, int, float, bool, type(None)})  # exactly these types: json writes them as they are
_STR = frozenset({str})


def _indented(value: Any, newline: str) -> Iterator[str]:
    """`json.dumps(value, indent=2)` in pieces; `newline` is a line break and the current indentation."""
    inner = newline + "  "
    if type(value) in _PLAIN:
        yield _encoder(inner)(value)
        return
    if type(value) is dict and value and _STR.issuperset(map(type, value)):
        if _PLAIN.issuperset(map(type, value.values())):  # the common case: one C call
            yield "{" + inner + _encoder(inner)(value)[1:-1] + newline + "}"
            return
        separator = "{"
        for key, item in value.items():
            yield f"{separator}{inner}{_encoder(inner)(key)}: "
            yield from _indented(item, inner)
            separator = ","
        yield newline + "}"
    elif type(value) in (list, tuple) and value:
        if _PLAIN.issuperset(map(type, value)):
            yield "[" + inner + _encoder(inner)(value)[1:-1] + newline + "]"
            return
        separator = "["
        for item in value:
            yield separator + inner
            yield from _indented(item, inner)
            separator = ","
        yield newline + "]"
    else:  # empty, a subclass, a non-str key: json's own encoder, indented to fit here
        yield json.dumps(value, indent=2).replace("\n", newline)


@functools.cache
def _encoder(inner: str) -> Callable[[Any], str]:
    """json's C encoder, one line per item at indentation `inner` (a line break and spaces)."""
    return json.JSONEncoder(separators=("," + inner, ": ")).encode


def print_json_array(items: Iterable[Any]) -> None:
    """What `print(json.dumps(list(items), indent=2))` prints, one item at a time: a long listing
    is never held whole in memory."""
    opening = "[\n"
    for item in items:
        sys.stdout.write(opening + "  " + "".join(_indented(item, "\n  ")))
        opening = ",\n"
    print("[]" if opening == "[\n" else "\n]")


def print_jobs(jobs: list[dict[str, Any]]) -> None:
    if not jobs:
        echo("no jobs")
        return
    rows = [
        [
            job["id"],
            job["script"],
            job["status"],
            job.get("waits") or "-",
            str(job["attempts"]),
            when(job["updated"]),
            job["host"] or "-",
        ]
        for job in jobs
    ]
    headers = ["ID", "SCRIPT", "STATUS", "WAITS FOR", "ATTEMPTS", "UPDATED", "HOST"]
    if any(job.get("queue", DEFAULT_QUEUE) != DEFAULT_QUEUE for job in jobs):  # a column only when it tells something
        headers.insert(3, "QUEUE")
        for row, job in zip(rows, jobs, strict=True):
            row.insert(3, job.get("queue", DEFAULT_QUEUE))
    table(None, headers, rows)


def print_queues(queues: list[dict[str, Any]]) -> None:
    """`psflow queues`: each queue, its limit, and its Running, due and waiting jobs."""
    if not queues:
        echo("no queues: every job is in queue default, and there is no job yet")
        return
    rows = [
        [
            queue["name"],
            str(queue["limit"]) if queue["limit"] is not None else "-",
            str(queue["running"]),
            str(queue["due"]),
            str(queue["waiting"]),
            str(queue["other"]),
        ]
        for queue in queues
    ]
    table(None, ["QUEUE", "LIMIT", "RUNNING", "DUE", "WAITING", "OTHER"], rows)


def print_job(job: dict[str, Any], *, page: int | None = None) -> None:
    """The job, and its blocks' latest states (the last `page` of them, if given)."""
    lines = [
        f"job       {job['id']}",
        f"script    {job['script']} {' '.join(job['args'])}".rstrip(),
        f"status    {job['status']}" + (f" ({job['reason']})" if job["reason"] else ""),
        f"attempts  {job['attempts']}",
        f"queue     {job.get('queue', DEFAULT_QUEUE)}, priority {job.get('priority', 0)}",
        f"created   {when(job['created'])}",
        f"updated   {when(job['updated'])}",
        f"last host {job['host'] or '-'}",
    ]
    if job.get("waits"):
        lines.insert(4, f"waits for {job['waits']}")
    if job.get("result") is not None:
        lines.insert(4, f"result    {_summary(job['result'])}")
    if job.get("parent"):
        lines.insert(1, f"parent    {job['parent']} (started it)")
    if job.get("env"):
        lines.insert(2, f"needs     {' '.join(job['env'])} (from the environment at every attempt, never stored)")
    if job.get("signed") is False:
        lines.insert(2, f"signed    no: no server runs it until `psflow key sign --job {job['id']}`")
    for line in lines:
        echo(line)
    echo()
    rows = [
        [block["name"], block["status"], str(block["attempt"]), f"{block['duration']:.3f}s", block["host"]]
        for block in job["blocks"]
    ]
    if rows:
        paged_table("blocks", ["BLOCK", "STATUS", "ATTEMPT", "DURATION", "HOST"], rows, page=page)
    else:
        echo("no blocks recorded yet")
    _print_inputs(job.get("inputs") or [])
    _print_children(job.get("children") or [])


def _print_children(children: list[dict[str, Any]]) -> None:
    """The jobs it started (start()), as a tree: id, status, and its result or why it ended."""
    if not children:
        return
    rows: list[list[str]] = []

    def add(entries: list[dict[str, Any]], depth: int) -> None:
        for child in entries:
            outcome = _summary(child["result"]) if child["result"] is not None else (child["reason"] or "-")
            rows.append(["  " * depth + child["id"], child["status"], outcome])
            add(child.get("children") or [], depth + 1)

    add(children, 0)
    echo()
    table(f"child jobs ({len(children)})", ["JOB", "STATUS", "RESULT"], rows)


def _summary(value: Any) -> str:
    """A value shown in one short line (as JSON, so "3" and 3 look different)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def _print_inputs(inputs: list[dict[str, Any]]) -> None:
    """Input sent to the job (`psflow send`): value as JSON, so "3" and 3 look different."""
    if not inputs:
        return

    rows = []
    for sent in inputs:
        value = json.dumps(sent["value"], ensure_ascii=False)
        rows.append(
            [
                sent["name"],
                value if len(value) <= 60 else value[:59] + "…",
                sent["user"],
                sent["host"],
                when(sent["received"]),
            ]
        )
    echo()
    table("inputs", ["INPUT", "VALUE", "USER", "HOST", "RECEIVED"], rows)


def print_source(text: str, *, diff: bool) -> None:
    """`psflow show`: highlighted on a terminal (control characters escaped, line breaks and tabs
    kept); exactly the source in a pipe, so that `psflow show flow.py > as_run.py` runs."""
    if not tty():
        sys.stdout.write(text)
        return
    from rich.syntax import Syntax

    console().print(Syntax(shown(text, keep="\n\t"), "diff" if diff else "python", line_numbers=not diff))


def print_workflows(workflows: list[dict[str, Any]]) -> None:
    if not workflows:
        echo("no registered workflows: `psflow register NAME SCRIPT` adds one")
        return
    rows = [
        [
            wf["name"],
            f"v{wf['version']}",
            str(wf["versions"]),
            when(wf["registered"]),
            wf["user"],
            wf["host"],
            wf["script"],
        ]
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
        (
            "waiting for input",
            ["JOB", "NAME", "INPUT", "SINCE"],
            [[row["id"], row["name"], row["input"], _ago(row["since"], now)] for row in report["waiting_for_input"]],
        ),
        (
            "timers due within the hour",
            ["JOB", "NAME", "DUE"],
            [[row["id"], row["name"], when(row["due"])] for row in report["timers_next_hour"]],
        ),
        (
            "Running, but the lease lapsed or the runner is gone (`psflow resume --status Running`)",
            ["JOB", "NAME", "HOST", "PID", "LEASE UNTIL"],
            [
                [
                    row["id"],
                    row["name"],
                    row["host"] or "-",
                    str(row["pid"]),
                    "runner gone" if row["runner_gone"] else when(row["lease_until"]),
                ]
                for row in report["lapsed_leases"]
            ],
        ),
        (
            "failed in the last 24 hours",
            ["JOB", "NAME", "WHEN", "REASON"],
            [[row["id"], row["name"], when(row["updated"]), row["reason"] or "-"] for row in report["failed_last_24h"]],
        ),
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
