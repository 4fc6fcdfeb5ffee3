"""A point in a script run in this process where the test acts while the job is Running.

The script calls `checkpoint("name")` (it imports it from here: the test's own
modules are importable in-process); the test says beforehand what happens there
with `at("name", action)`. Deterministic: no second process, no polling, no sleep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_actions: dict[str, Callable[[], None]] = {}
_reached: list[str] = []

# A script held Running at a checkpoint: "started" is recorded, "gated" is the block open at the
# checkpoint (it records only once the action is done), "last" comes after.
GATED = """
    from support.checkpoints import checkpoint

    with block("started"):
        print("started")
    with block("gated"):
        checkpoint("gated")
        print("through the gate")
    with block("last"):
        print("last")
"""


def checkpoint(name: str) -> None:
    """Called by the script: run what the test put here (once), then carry on."""
    _reached.append(name)
    action = _actions.pop(name, None)
    if action is not None:
        action()


@contextmanager
def at(name: str, action: Callable[[], None]) -> Iterator[list[str]]:
    """Run `action` when the script reaches checkpoint `name`; yields the checkpoints reached."""
    _actions[name] = action
    _reached.clear()
    try:
        yield _reached
    finally:
        _actions.pop(name, None)
