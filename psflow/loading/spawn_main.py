"""The main module of a `multiprocessing` child (spawn or forkserver start method) of a job's script.

Such a child imports its parent's main module again. A job's script may use the
`block "X":` shorthand, a SyntaxError to plain Python, so a job's `__main__` names this
module in its `__spec__` (psflow.runtime.environment) and this module runs the script's
rewritten code here instead — the code the job runs, from psflow's cache — with the
script's names, as Python runs a script's top level in such a child. Blocks in a child
simply run: the child is not the job.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import CodeType

SCRIPT = "PSFLOW_SCRIPT"  # environment: the job's script (a file, or the name of stored source)


def _code(script: str) -> CodeType:
    from psflow.loading.cache import cache_path, read_cached_code, shared_cache_path
    from psflow.loading.loader import load_script

    path = Path(script)
    cached = read_cached_code(cache_path(path) if path.is_file() else shared_cache_path(script), script)
    return cached if cached is not None else load_script(path).code


def _run() -> None:
    from psflow.script import provided

    script = os.environ[SCRIPT]
    namespace = globals()
    namespace.update(provided())
    namespace["__file__"] = script
    exec(_code(script), namespace)


if __name__ == "__mp_main__":
    _run()
