"""The cache of rewritten code: compiling a script again is needed only when its source changed.

Like pytest's rewritten-assert cache: a checked-hash pyc (PEP 552) in the
script's `__pycache__`, named by interpreter tag, psflow version and transform
version; written to a temporary file and `os.replace`d, so a reader never sees
half a file. A read-only folder or a damaged file just means compiling again.
Source kept in the database (no file) is cached in the user cache folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType

from psflow import __version__

_FLAGS = 0b11  # PEP 552: hash-based, checked
_HEADER = 16


def cache_path(path: Path) -> Path:
    """Where the rewritten code of the script file `path` is cached."""
    return path.parent / "__pycache__" / f"{path.name}.{_tag()}.pyc"


def shared_cache_path(name: str) -> Path:
    """Where the code compiled from stored source under `name` is cached (an unwritable folder: no cache)."""
    from platformdirs import user_cache_dir

    key = hashlib.sha256(name.encode()).hexdigest()[:32]
    return Path(user_cache_dir("psflow", appauthor=False)) / "sources" / f"{key}.{_tag()}.pyc"


def read_cache(target: Path, filename: str, data: bytes) -> CodeType | None:
    """The cached code for source `data` compiled as `filename`, or None (missing, stale or damaged)."""
    try:
        blob = target.read_bytes()
    except OSError:
        return None
    if blob[:_HEADER] != _header(data):
        return None
    try:
        code = marshal.loads(blob[_HEADER:])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) and code.co_filename == filename else None


def read_cached_code(target: Path, filename: str) -> CodeType | None:
    """The code cached at `target` for `filename`, trusting that it is current (a job's own child process
    reads what its parent just loaded)."""
    try:
        code = marshal.loads(target.read_bytes()[_HEADER:])
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) and code.co_filename == filename else None


def write_cache(target: Path, data: bytes, code: CodeType, *, make_folders: bool = False) -> None:
    """Cache `code` compiled from `data` at `target`, atomically; an unwritable folder is no error."""
    try:
        target.parent.mkdir(parents=make_folders, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(_header(data) + marshal.dumps(code))
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return  # a read-only folder: run without the cache


def _tag() -> str:
    from psflow.transform import TRANSFORM_VERSION

    return f"psflow-{__version__}-t{TRANSFORM_VERSION}.{sys.implementation.cache_tag}"


def _header(data: bytes) -> bytes:
    return importlib.util.MAGIC_NUMBER + _FLAGS.to_bytes(4, "little") + importlib.util.source_hash(data)
