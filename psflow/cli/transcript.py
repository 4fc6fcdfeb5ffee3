"""How `psflow logs` and the per-attempt part of `psflow job` print (see psflow.cli.render for the rules:
rich on a terminal, plain text in pipes, no ANSI styles with NO_COLOR)."""

from __future__ import annotations

import sys
from typing import Any

from psflow.cli.render import console, echo, shown, table, tty, when
from psflow.domain import RunStatus

_STATUS_STYLE = {RunStatus.COMPLETED: "green", RunStatus.FAILED: "red", RunStatus.RERUN: "cyan"}


def run_header(run: dict[str, Any]) -> str:
    """`==> NAME (attempt N, STATUS, HOST, STARTED, DURATION) <==`: one block run in a transcript."""
    return (
        f"==> {run['name']} (attempt {run['attempt']}, {run['status']}, {run['host']}, "
        f"{when(run['started'])}, {run['duration']:.3f}s) <=="
    )


def print_run(run: dict[str, Any], *, raw: bool = False) -> None:
    """One block run: its header, the stdout/stderr it captured, and the error it failed with.

    The captured text keeps its line breaks and tabs; other control characters (colours, a
    carriage return, a screen clear) are shown escaped unless `raw` (`psflow logs --raw`)
    asks for the text exactly as stored. The header is always escaped: it is psflow's line.
    """
    header = shown(run_header(run))
    if tty():
        from rich.text import Text

        console().print(Text(header, style=f"bold {_STATUS_STYLE.get(run['status'], 'yellow')}"), soft_wrap=True)
    else:
        print(header)
    for text in (run["output"], run["error"]):
        if text:
            text = text if raw else shown(text, keep="\n\t")
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def print_attempts(job: dict[str, Any]) -> None:
    """Per attempt: how it ended, where, which source, the inputs it newly had, and each block it
    executed or replayed (with its duration, host and tries, and whether its code changed)."""
    for attempt in job["attempt_history"]:
        echo()
        echo(_attempt_line(attempt))
        if attempt.get("inputs_received"):
            echo(f"  inputs received before it: {', '.join(dict.fromkeys(attempt['inputs_received']))}")
        rows = [_block_row(block) for block in attempt["blocks"]]
        if rows:
            table(None, ["BLOCK", "RAN", "STATUS", "DURATION", "TRIES", "HOST", "NOTE"], rows)
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
        block["name"], "executed", block["status"], f"{block['duration']:.3f}s", str(block["tries"]),
        block["host"], ", ".join(notes),
    ]
