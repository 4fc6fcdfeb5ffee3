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
import marshal
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

from psflow import __version__

_FLAGS = 0b11  # PEP 552: hash-based, checked
_HEADER = 16


@dataclass(frozen=True)
class LoadedScript:
    path: Path
    source: str
    sha256: str
    code: CodeType


class ScriptError(Exception):
    """The script cannot be read."""


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
    """Read, transform and compile `path` (or `source_text` under that name), using the cache."""
    path = path.resolve()
    if source_text is None:
        data, source = read_source(path)
    else:
        data, source = source_text.encode(), source_text
    code = _read_cache(path, data)
    if code is None:
        from psflow.transform import compile_script

        code = compile_script(source, str(path)).code
        _write_cache(path, data, code)
    return LoadedScript(path, source, hashlib.sha256(data).hexdigest(), code)


def cache_path(path: Path) -> Path:
    from psflow.transform import TRANSFORM_VERSION

    tag = sys.implementation.cache_tag
    return path.parent / "__pycache__" / f"{path.name}.psflow-{__version__}-t{TRANSFORM_VERSION}.{tag}.pyc"


def _read_cache(path: Path, data: bytes) -> CodeType | None:
    try:
        blob = cache_path(path).read_bytes()
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


def _write_cache(path: Path, data: bytes, code: CodeType) -> None:
    target = cache_path(path)
    header = importlib.util.MAGIC_NUMBER + _FLAGS.to_bytes(4, "little") + importlib.util.source_hash(data)
    try:
        target.parent.mkdir(exist_ok=True)
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
