"""Script file (or stored source) → code object, through the cache of rewritten code.

A warm run never imports libcst: the code and the check report it carries come
from the cache (psflow.loading.cache).
"""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING

from psflow.errors import ScriptError
from psflow.loading.cache import cache_path, read_cache, shared_cache_path, write_cache

if TYPE_CHECKING:
    from psflow.transform.sites import ScriptReport


@dataclass(frozen=True)
class LoadedScript:
    path: Path
    source: str
    sha256: str
    code: CodeType

    @property
    def report(self) -> ScriptReport:
        """The script's block sites and warnings, found when it was compiled (the code keeps them: no libcst)."""
        from psflow.transform.sites import report_of

        return report_of(self.code)


def read_source(path: Path) -> tuple[bytes, str]:
    """The script's bytes and text (honouring a PEP 263 coding line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScriptError(f"script not found: {path}") from None
    except IsADirectoryError:
        raise ScriptError(f"script is a directory, not a file: {path}") from None
    except OSError as error:
        raise ScriptError(f"cannot read script {path}: {error.strerror}") from None
    try:
        return data, importlib.util.decode_source(data)
    except (UnicodeDecodeError, SyntaxError) as error:
        raise ScriptError(f"cannot decode script {path}: {error}") from None


def load_script(path: Path, source_text: str | None = None) -> LoadedScript:
    """Read, transform and compile `path` (or `source_text` under that name), using the cache.

    With `source_text` and no file at `path` (a job's snapshot on a server without
    the file), this is `load_source`: nothing is written next to a missing file.
    """
    path = path.resolve()
    if source_text is not None and not path.is_file():
        return load_source(str(path), source_text)
    if source_text is None:
        data, source = read_source(path)
    else:
        data, source = source_text.encode(), source_text
    _forget_stored_lines(str(path))  # the file is here now: tracebacks read it, not an old snapshot
    code = _compiled(source, str(path), data, cache_path(path), make_folders=False)
    return LoadedScript(path, source, hashlib.sha256(data).hexdigest(), code)


def load_source(name: str, source: str) -> LoadedScript:
    """Transform and compile `source` as if it were the file `name`, which need not exist.

    For source kept in the database (a registered workflow, `name` like
    "<workflow nightly v3>", or a job's snapshot): tracebacks name `name` and show
    the stored lines (through linecache), and the cache lives in the user cache
    folder, keyed by `name` and checked against the source's hash.
    """
    data = source.encode()
    code = _compiled(source, name, data, shared_cache_path(name), make_folders=True)
    # An mtime of None keeps linecache.checkcache from dropping lines that have no file.
    linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
    return LoadedScript(Path(name), source, hashlib.sha256(data).hexdigest(), code)


def _compiled(source: str, filename: str, data: bytes, target: Path, *, make_folders: bool) -> CodeType:
    code = read_cache(target, filename, data)
    if code is None:
        from psflow.transform import compile_script

        code = compile_script(source, filename).code
        write_cache(target, data, code, make_folders=make_folders)
    return code


def _forget_stored_lines(name: str) -> None:
    """Drop lines load_source put in linecache for `name` (they never expire by themselves)."""
    entry = linecache.cache.get(name)
    if entry is not None and len(entry) == 4 and entry[1] is None:
        del linecache.cache[name]
