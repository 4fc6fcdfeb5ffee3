"""How `psflow logs` and the per-attempt part of `psflow job` print (see psflow.cli.render for the rules:
rich on a terminal, plain text in pipes, no ANSI styles with NO_COLOR)."""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from psflow.cli.render import console, echo, paged_table, shown, tty, when
from psflow.domain import RunStatus

_STATUS_STYLE = {RunStatus.COMPLETED: "green", RunStatus.FAILED: "red", RunStatus.RERUN: "cyan"}


def run_header(run: dict[str, Any]) -> str:
    """`==> NAME (attempt N, STATUS, HOST, STARTED, DURATION) <==`: one block run in a transcript."""
    return (
        f"==> {run['name']} (attempt {run['attempt']}, {run['status']}, {run['host']}, "
        f"{when(run['started'])}, {run['duration']:.3f}s) <=="
    )


def print_run(run: dict[str, Any], *, raw: bool = False) -> None:
    """One entry of a transcript: a block run (what the attempt printed before it, its header, the
    stdout/stderr it captured, the error it failed with), the end of an attempt, or — while following —
    the output of the block running now.

    The captured text keeps its line breaks and tabs; other control characters (colours, a
    carriage return, a screen clear) are shown escaped unless `raw` (`psflow logs --raw`)
    asks for the text exactly as stored. Headers are always escaped: they are psflow's lines.
    """
    write = partial(_write, raw=raw)
    kind = run.get("kind", "block")
    if kind == "live":
        if run["first"]:
            _header(f"==> {run['name']} (attempt {run['attempt']}, running) <==", "yellow")
        write(run["output"], end_line=False)
        return
    if kind == "attempt":
        write(run["output"])
        outcome = (run["status"] or "unfinished") + (f": {run['reason']}" if run.get("reason") else "")
        _header(
            f"==> attempt {run['attempt']} ended ({outcome}, {run['host']}, {when(run['ended'])}) <==",
            _STATUS_STYLE.get(run["status"], "yellow"),
        )
        write(run["error"])
        return
    write(run.get("lead"))
    done = run.get("shown", 0)
    if done:  # its output so far was shown while it ran: the rest, then the header as its end
        write(run["output"][done:])
    else:
        _header(run_header(run), _STATUS_STYLE.get(run["status"], "yellow"))
        write(run["output"])
    if done:
        _header(run_header(run), _STATUS_STYLE.get(run["status"], "yellow"))
    write(run["error"])


def _header(text: str, style: str) -> None:
    text = shown(text)
    if tty():
        from rich.text import Text

        console().print(Text(text, style=f"bold {style}"), soft_wrap=True)
    else:
        print(text)


def _write(text: str | None, *, raw: bool, end_line: bool = True) -> None:
    if text:
        text = text if raw else shown(text, keep="\n\t")
        sys.stdout.write(text if text.endswith("\n") or not end_line else text + "\n")
    sys.stdout.flush()


def print_attempts(job: dict[str, Any], *, page: int | None = None) -> None:
    """Per attempt: how it ended, where, which source, the inputs it newly had, and each block it
    executed or replayed (with its duration, host and tries, and whether its code changed; the last
    `page` of them, if given)."""
    for attempt in job["attempt_history"]:
        echo()
        echo(_attempt_line(attempt))
        if attempt.get("inputs_received"):
            echo(f"  inputs received before it: {', '.join(dict.fromkeys(attempt['inputs_received']))}")
        if attempt.get("error"):
            echo("  it ended with an exception no block caught:")
            echo("\n".join("    " + line for line in attempt["error"].rstrip("\n").splitlines()), keep="\n")
        rows = [_block_row(block) for block in attempt["blocks"]]
        if rows:
            paged_table(None, ["BLOCK", "RAN", "STATUS", "DURATION", "TRIES", "HOST", "NOTE"], rows, page=page)
        else:
            echo("  no blocks")


def _attempt_line(attempt: dict[str, Any]) -> str:
    outcome = attempt["outcome"] or "running (or its runner died)"
    if attempt.get("reason"):
        outcome += f" ({attempt['reason']})"
    took = f", took {attempt['ended'] - attempt['started']:.3f}s" if attempt.get("ended") else ""
    source = attempt["source_sha256"][:12]
    if attempt.get("source_changed"):
        source += " (changed since the attempt before)"
    return (
        f"attempt {attempt['number']}: {outcome} — on {attempt['host']} (pid {attempt['pid']}), "
        f"started {when(attempt['started'])}{took}, source {source}"
    )


def _block_row(block: dict[str, Any]) -> list[str]:
    if block["state"] == "replayed":
        return [block["name"], "replayed", RunStatus.COMPLETED, "-", "-", "-", f"from attempt {block['attempt']}"]
    notes = []
    if block["status"] == RunStatus.RERUN:
        notes.append("marked to run again")
    if block.get("code_changed"):
        notes.append("code changed")
    return [
        block["name"],
        "executed",
        block["status"],
        f"{block['duration']:.3f}s",
        str(block["tries"]),
        block["host"],
        ", ".join(notes),
    ]
