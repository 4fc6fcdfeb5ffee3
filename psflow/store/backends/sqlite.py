"""The embedded default: one SQLite file in WAL mode, shared safely by local processes.

The file may hold what scripts saved (and a job's inputs), so psflow creates it readable by its
owner only (0600; SQLite gives the -wal and -shm files beside it the database file's mode), and
the folders it creates for it 0700. A database that exists keeps the mode it has. A command that
only reads opens the file without creating it (`create=False`).

A lock another process holds is waited for by SQLite itself (the busy timeout, at most
PSFLOW_DB_RETRY_SECONDS), then by the store trying the whole call again (psflow.store.retry)
until that many seconds have passed. A file that is not a database, or a damaged one, is
said in words that tell what to do.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import parse_qsl

from peewee import DatabaseError, SqliteDatabase

from psflow.errors import StoreError
from psflow.store.retry import BUSY, configured_seconds, driver_error
from psflow.store.urls import init_command

# FULL: a completed block survives power loss. NORMAL: it survives a crashed
# process but not a crashed machine, and a commit costs a fraction of FULL's.
_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}
BUSY_TIMEOUT_SECONDS = 5  # SQLite's own wait for a lock, per try; the store tries again after it
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def open_sqlite(path: str, query: str = "", *, create: bool = True, folders: bool = False) -> SqliteDatabase:
    """A SqliteDatabase for `path`, checked to be usable; not connected yet.

    `create`: the file is made (mode 0600) on first connect if it does not exist; otherwise a
    missing file is refused now. `folders`: missing folders above it are made too (mode 0700),
    for `psflow init` and the default database in the user data folder.
    """
    options = dict(parse_qsl(query))
    synchronous = options.pop("synchronous", "full").lower()
    if synchronous not in _SYNCHRONOUS:
        raise StoreError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
    if options:
        raise StoreError(f"unknown SQLite URL option(s): {', '.join(sorted(options))}")
    file = Path(path).expanduser()
    busy = min(BUSY_TIMEOUT_SECONDS, configured_seconds())
    pragmas = {"synchronous": _SYNCHRONOUS[synchronous], "foreign_keys": 1, "busy_timeout": int(busy * 1000)}
    if not create:
        if not file.is_file():
            raise StoreError(f"no psflow database at {file} ({init_command(str(file))} creates one)")
        _check_writable(file, folders=False)
        # mode=rw: never create the file, even if it vanished meanwhile; and no journal_mode
        # pragma, which would be a write (psflow's own databases are in WAL mode already).
        uri = f"{file.absolute().as_uri()}?mode=rw"
        return SqliteFile(uri, uri=True, timeout=busy, pragmas=pragmas)
    _check_writable(file, folders=folders)
    return _PrivateSqliteDatabase(str(file), folders=folders, timeout=busy, pragmas={"journal_mode": "wal", **pragmas})


class SqliteFile(SqliteDatabase):
    """peewee's SqliteDatabase that says which of its errors pass (a lock) and what a damaged file needs."""

    def trouble(self, error: BaseException) -> str | None:
        """BUSY for a lock held elsewhere (SQLITE_BUSY, SQLITE_LOCKED); None for anything else."""
        name = getattr(driver_error(error), "sqlite_errorname", "")
        if name:
            return BUSY if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) else None
        return BUSY if "is locked" in str(error) else None

    def claim_transaction(self):
        """The transaction of a claim that counts its queue's Running jobs first: BEGIN IMMEDIATE takes
        the write lock at once, so no other claim commits between the count and the update."""
        return self.atomic("IMMEDIATE")

    def locked(self, query):
        """`query` as it is: inside claim_transaction the whole database is locked for writing already."""
        return query

    def rollback(self) -> None:
        """Roll back, unless SQLite already did: a full disk or an I/O error ends the transaction, and
        a ROLLBACK after it would fail and hide the error that ended it."""
        if self.is_closed() or self.connection().in_transaction:
            super().rollback()

    def execute_sql(self, sql: str, params: object = None):
        try:
            return super().execute_sql(sql, params)
        except DatabaseError as error:
            if _DAMAGED.search(str(error)):
                error.args = (f"{error} ({_DAMAGED_ADVICE})",)
            raise

    def _connect(self):
        try:
            return super()._connect()
        except sqlite3.DatabaseError as error:  # the pragmas run here: the first read of the file
            if _DAMAGED.search(str(error)):
                raise DatabaseError(f"{error} ({_DAMAGED_ADVICE})") from None
            raise


_DAMAGED = re.compile(r"file is not a database|database disk image is malformed")
_DAMAGED_ADVICE = (
    "the file is not an SQLite database, or it is damaged: restore it from a backup, "
    "or save what is left with `sqlite3 FILE .recover`"
)


class _PrivateSqliteDatabase(SqliteFile):
    """Creates its file (and with `folders` its missing folders) for its owner only, before SQLite
    would create it with the umask's mode."""

    def __init__(self, database: str, *, folders: bool, **kwargs: object) -> None:
        super().__init__(database, **kwargs)
        self._folders = folders

    def _connect(self):
        file = Path(self.database)
        try:
            if self._folders:
                _create_folders(file.parent)
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            pass  # it exists already (or another process made it just now): its mode stays
        except OSError as error:
            raise StoreError(f"cannot create database {file}: {error.strerror or error}") from None
        return super()._connect()


def _create_folders(folder: Path) -> None:
    """Make `folder` and the folders above it that are missing, each mode 0700 (mkdir -p would
    give the ones above the umask's mode)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=FOLDER_MODE)


def _check_writable(file: Path, *, folders: bool) -> None:
    """Fail before any write, with the path in the message, rather than half-way through."""
    if file.is_dir():
        raise StoreError(f"database path {file} is a directory; give a file name")
    folder = file.parent
    if folders:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # the nearest folder that exists must let us create the rest
        if not folder.is_dir():
            raise StoreError(f"cannot create database {file}: {folder} is not a folder")
    elif not folder.is_dir():
        raise StoreError(f"cannot create database {file}: folder {folder} does not exist")
    # WAL keeps two files beside the database: the folder must be writable too.
    for target in (folder, file) if file.exists() else (folder,):
        if not os.access(target, os.W_OK):
            raise StoreError(f"cannot write database {file}: {target} is not writable")
