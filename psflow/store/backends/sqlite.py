"""The embedded default: one SQLite file in WAL mode, shared safely by local processes."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl

from peewee import SqliteDatabase

from psflow.errors import StoreError

# FULL: a completed block survives power loss. NORMAL: it survives a crashed
# process but not a crashed machine, and a commit costs a fraction of FULL's.
_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}
BUSY_TIMEOUT_SECONDS = 30


def open_sqlite(path: str, query: str = "") -> SqliteDatabase:
    """A SqliteDatabase for `path`, checked to be creatable and writable."""
    options = dict(parse_qsl(query))
    synchronous = options.pop("synchronous", "full").lower()
    if synchronous not in _SYNCHRONOUS:
        raise StoreError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
    if options:
        raise StoreError(f"unknown SQLite URL option(s): {', '.join(sorted(options))}")
    file = Path(path).expanduser()
    _check_writable(file)
    return SqliteDatabase(
        str(file),
        timeout=BUSY_TIMEOUT_SECONDS,
        pragmas={
            "journal_mode": "wal",
            "synchronous": _SYNCHRONOUS[synchronous],
            "foreign_keys": 1,
            "busy_timeout": BUSY_TIMEOUT_SECONDS * 1000,
        },
    )


def _check_writable(file: Path) -> None:
    """Fail before any write, with the path in the message, rather than half-way through."""
    if file.is_dir():
        raise StoreError(f"database path {file} is a directory; give a file name")
    folder = file.parent
    if not folder.is_dir():
        raise StoreError(f"cannot create database {file}: folder {folder} does not exist")
    # WAL keeps two files beside the database: the folder must be writable too.
    for target in (folder, file) if file.exists() else (folder,):
        if not os.access(target, os.W_OK):
            raise StoreError(f"cannot write database {file}: {target} is not writable")
