"""Script file → code object, through a cache of rewritten code.

Like pytest's rewritten-assert cache: a checked-hash pyc (PEP 552) in the
script's `__pycache__`, named by interpreter tag, psflow version and transform
version; written to a temporary file and `os.replace`d, so a reader never sees
half a file. A read-only folder or a damaged file just means compiling again.
A warm run never imports libcst.
"""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import marshal
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING

from psflow import __version__
from psflow.errors import ScriptError

if TYPE_CHECKING:
    from psflow.transform.sites import ScriptReport

_FLAGS = 0b11  # PEP 552: hash-based, checked
_HEADER = 16


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
    code = _read_cache(path, data)
    if code is None:
        from psflow.transform import compile_script

        code = compile_script(source, str(path)).code
        _write_cache(path, data, code)
    return LoadedScript(path, source, hashlib.sha256(data).hexdigest(), code)


def load_source(name: str, source: str) -> LoadedScript:
    """Transform and compile `source` as if it were the file `name`, which need not exist.

    For source kept in the database (a registered workflow, `name` like
    "<workflow nightly v3>", or a job's snapshot): tracebacks name `name` and show
    the stored lines (through linecache), and the cache lives in the user cache
    folder, keyed by `name` and checked against the source's hash.
    """
    data = source.encode()
    target = _shared_cache_path(name)
    code = _read_cache(Path(name), data, target)
    if code is None:
        from psflow.transform import compile_script

        code = compile_script(source, name).code
        _write_cache(Path(name), data, code, target)
    # An mtime of None keeps linecache.checkcache from dropping lines that have no file.
    linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
    return LoadedScript(Path(name), source, hashlib.sha256(data).hexdigest(), code)


def _forget_stored_lines(name: str) -> None:
    """Drop lines load_source put in linecache for `name` (they never expire by themselves)."""
    entry = linecache.cache.get(name)
    if entry is not None and len(entry) == 4 and entry[1] is None:
        del linecache.cache[name]


def _shared_cache_path(name: str) -> Path:
    """Where the code compiled from stored source under `name` is cached (an unwritable folder: no cache)."""
    from platformdirs import user_cache_dir

    from psflow.transform import TRANSFORM_VERSION

    folder = user_cache_dir("psflow", appauthor=False)
    key = hashlib.sha256(name.encode()).hexdigest()[:32]
    tag = sys.implementation.cache_tag
    return Path(folder) / "sources" / f"{key}.psflow-{__version__}-t{TRANSFORM_VERSION}.{tag}.pyc"


def cache_path(path: Path) -> Path:
    from psflow.transform import TRANSFORM_VERSION

    tag = sys.implementation.cache_tag
    return path.parent / "__pycache__" / f"{path.name}.psflow-{__version__}-t{TRANSFORM_VERSION}.{tag}.pyc"


def _read_cache(path: Path, data: bytes, target: Path | None = None) -> CodeType | None:
    try:
        blob = (target or cache_path(path)).read_bytes()
    except OSError:
        return None
    header = importlib.util.MAGIC_NUMBER + _FLAGS.to_bytes(4, "little") + importlib.util.source_hash(data)
    if blob[:_HEADER] != header:
        return None
    try:
        code = marshal.loads(blob[_HEADER:])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) and code.co_filename == str(path) else None


def _write_cache(path: Path, data: bytes, code: CodeType, target: Path | None = None) -> None:
    shared = target is not None
    target = target or cache_path(path)
    header = importlib.util.MAGIC_NUMBER + _FLAGS.to_bytes(4, "little") + importlib.util.source_hash(data)
    try:
        target.parent.mkdir(parents=shared, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(header + marshal.dumps(code))
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return  # a read-only folder: run without the cache
