"""The process a script runs in, set up for one attempt and put back afterwards.

A fresh `__main__` with the script's argv, import path and job id, so one
process can run many jobs in turn (worker processes do).
"""

from __future__ import annotations

import builtins
import os
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from pathlib import Path

from psflow.loading.importer import ScriptFolderImporter
from psflow.loading.spawn_main import SCRIPT
from psflow.script import provided


@contextmanager
def script_environment(script: str, argv: list[str], job_id: str, cwd: str | None = None) -> Iterator[types.ModuleType]:
    """A fresh `__main__` module for `script`, run in `cwd` when given; argv, sys.path, `__main__`,
    the environment and the working directory are restored afterwards."""
    saved = (sys.argv, list(sys.path), sys.modules.get("__main__"), dict(os.environ), os.getcwd())
    if cwd is not None:
        os.chdir(cwd)
    module = types.ModuleType("__main__")
    module.__file__ = script
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    # multiprocessing children (spawn, forkserver) import this instead of the script (which may not be Python).
    module.__spec__ = ModuleSpec("psflow.loading.spawn_main", None)
    module.__dict__.update(provided())
    sys.argv = [script, *argv]
    sys.path.insert(0, str(Path(script).resolve().parent))
    sys.modules["__main__"] = module
    os.environ["PSFLOW_JOB_ID"] = job_id
    os.environ[SCRIPT] = script
    try:
        with ScriptFolderImporter(Path(script).parent):
            yield module
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]
        if saved[2] is not None:
            sys.modules["__main__"] = saved[2]
        _restore_environ(saved[3])
        os.chdir(saved[4])


def _restore_environ(saved: dict[str, str]) -> None:
    """os.environ as `saved` again, changing only what differs: clearing and refilling it would call
    putenv for every variable, after every job a worker runs."""
    current = dict(os.environ)
    for name in current.keys() - saved.keys():
        del os.environ[name]
    for name, value in saved.items():
        if current.get(name) != value:
            os.environ[name] = value
