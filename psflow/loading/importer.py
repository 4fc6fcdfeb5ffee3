"""Blocks in the script's own helper modules: an import hook for its folder.

A module imported from the script's folder whose source mentions one of the
script names (`block`, `sleep`, … psflow.script.NAMES) gets those names, as the
script does, and is rewritten like the script (through the same code cache).
Such modules are forgotten after the attempt, so the next job imports them
afresh and their module-level blocks belong to that job.
"""

from __future__ import annotations

import re
import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from pathlib import Path
from types import CodeType, ModuleType

from psflow import script
from psflow.loading.loader import load_script

_USES_SCRIPT_NAMES = re.compile(rb"\b(?:%s)\b" % b"|".join(name.encode() for name in script.NAMES))


class _BlockModuleLoader(SourceFileLoader):
    """Loads a module through psflow's transformer instead of the plain bytecode cache."""

    def get_code(self, fullname: str) -> CodeType:
        from psflow.transform import TransformError

        try:
            return load_script(Path(self.get_filename(fullname))).code
        except TransformError as error:
            # Shown to the user like any syntax error in an imported module.
            first = error.diagnostics[0]
            raise SyntaxError(
                first.message, (first.filename, first.line, first.column, first.source_line + "\n")
            ) from None

    def exec_module(self, module: ModuleType) -> None:
        for name, value in script.provided().items():
            module.__dict__.setdefault(name, value)
        super().exec_module(module)


class ScriptFolderImporter(MetaPathFinder):
    """Finds modules under `folder` that use script names; everything else imports as usual."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.loaded: list[str] = []

    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:
        spec = PathFinder.find_spec(fullname, path if path is not None else [str(self.folder)])
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        origin = Path(spec.origin).resolve()
        if not origin.is_relative_to(self.folder):
            return None
        try:
            if not _USES_SCRIPT_NAMES.search(origin.read_bytes()):
                return None
        except OSError:
            return None
        spec.loader = _BlockModuleLoader(fullname, str(origin))
        self.loaded.append(fullname)
        return spec

    def __enter__(self) -> ScriptFolderImporter:
        sys.meta_path.insert(0, self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        sys.meta_path.remove(self)
        for name in self.loaded:
            sys.modules.pop(name, None)
