"""Arguments for a script that look like a mistyped psflow option (`--jobs`, `--rerun-chaged`).

What psflow does not recognise goes to the script, as with `python script.py --anything`, so
a misspelt option of psflow's is not an error: it silently becomes the script's argument and
the option the user meant is not applied. One warning line per such argument names the option
it resembles; the script still gets the argument.
"""

from __future__ import annotations

import difflib

from typer.core import TyperCommand

from psflow.cli.messages import say

SIMILARITY = 0.8  # `--jobs`/`--job` 0.91, `--rerun-chaged`/`--rerun-changed` 0.97; `--db-host`/`--db` 0.62


def warn_near_misses(command: TyperCommand, args: list[str]) -> None:
    """Say which of `args` (meant for the script) resemble an option of psflow's `command`."""
    options = [name for param in command.params for name in param.opts if name.startswith("--")]
    for arg in args:
        if arg == "--" or not arg.startswith("-"):
            continue
        given = arg.split("=", 1)[0]
        if given in options:  # psflow's own option, passed on on purpose after `--`
            continue
        meant = difflib.get_close_matches(given, options, n=1, cutoff=SIMILARITY)
        if meant:
            name = command.name or "exec"
            say(f"warning: {given} is not a `psflow {name}` option (did you mean {meant[0]}?); it goes to the script")
