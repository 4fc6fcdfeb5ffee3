"""Which database psflow uses, and setting one up: connecting, `psflow init`, `psflow config`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psflow.errors import UsageError
from psflow.settings import all_settings, database_setting
from psflow.signing import PublicKey
from psflow.store import Store, mask_password, open_store
from psflow.store.urls import resolve

SETTINGS_TARGETS = ("env", "file")


def connect(db: str | None, *, create: bool = True) -> Store:
    """The store for `db`, else PSFLOW_DB, else the config file, else the default SQLite file
    (psflow.settings); each may be a URL, a connection string or a SQLite path.

    Commands that only read pass `create=False`: a database (or psflow schema) that does not
    exist is then refused, saying which `psflow init` creates it, instead of made empty.
    """
    setting = database_setting(db)
    url = None if setting.source == "default" else resolve(setting.url or "")
    return open_store(url, create=create, notice=tell_trouble)


def tell_trouble(message: str) -> None:
    """The store's word that the database is locked or unreachable and it keeps trying (on stderr)."""
    print(f"psflow: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, kw_only=True)
class InitResult:
    """What `psflow init` did: the database, its schema, and where the setting was saved."""

    url: str  # the psflow URL, password included (for the PSFLOW_DB lines): print `where` instead
    where: str  # the database, password masked
    action: str  # "created", "current" or "upgraded"
    version: int
    found: int | None  # the schema version it had
    ignored: tuple[str, ...] = ()  # connection string keys psflow has no use for
    settings: str | None = None  # "env", "file" or None
    config_file: str | None = None  # where --settings file saved it
    env_lines: tuple[str, ...] = ()  # for --settings env
    in_effect: bool = True  # whether later commands without --db use this database
    key: DeploymentKey | None = None  # the deployment key this server now holds


@dataclass(frozen=True)
class DeploymentKey:
    """The deployment key on this server (psflow.signing) and what was just done with it."""

    key_id: str
    folder: str
    private: bool  # False: this server only runs jobs (it holds the public key)
    action: str  # "created", "imported" or "kept"


def init(
    *,
    sqlite: str | None = None,
    postgres: str | None = None,
    mssql: str | None = None,
    connection_string: str | None = None,
    upgrade: bool = False,
    settings: str | None = None,
    key_file: str | None = None,
) -> InitResult:
    """`psflow init`: create (or with `upgrade` migrate) the psflow schema in exactly one database,
    given as a path, URL or connection string; with `settings`, save it for later commands.

    Everything the user gave is checked before the database is touched, and the setting
    is saved only once the schema is in place: a mistake leaves nothing half-written. Then
    this server's deployment key: `key_file` is imported, else a key is made if there is none.
    """
    from psflow.settings import check_config_writable, env_lines, save_database_url
    from psflow.store.connstrings import absolute_sqlite_url, to_url
    from psflow.store.schema import initialize
    from psflow.store.urls import describe

    backend, text = _one_database(sqlite=sqlite, postgres=postgres, mssql=mssql, connection_string=connection_string)
    if settings is not None and settings not in SETTINGS_TARGETS:
        raise UsageError(f"--settings must be env or file, not {settings!r}")
    connection = to_url(text, backend)
    url = connection.url
    if connection.backend == "sqlite":
        url = absolute_sqlite_url(url, Path.cwd())  # the same file from any folder, later
    config_file = check_config_writable() if settings == "file" else None
    if key_file is not None:
        from psflow.signing import read_key_file

        read_key_file(Path(key_file))  # a key file that cannot be used stops init before the database is touched
    report = initialize(url, upgrade=upgrade)
    if config_file is not None:
        save_database_url(url, config_file)
    key = deployment_key(Path(key_file) if key_file else None)
    return InitResult(
        url=url,
        where=describe(url),
        action=report.action,
        version=report.version,
        found=report.found,
        ignored=connection.ignored,
        settings=settings,
        config_file=str(config_file) if config_file is not None else None,
        env_lines=tuple(env_lines(url)) if settings == "env" else (),
        in_effect=settings == "env" or _resolved(database_setting(None).url or "")[0] == url,
        key=key,
    )


def _one_database(
    *, sqlite: str | None, postgres: str | None, mssql: str | None, connection_string: str | None
) -> tuple[str | None, str]:
    """The one database init was given: its backend (None: a connection string says) and its text."""
    given = [
        (option, backend, value)
        for option, backend, value in (
            ("--sqlite", "sqlite", sqlite),
            ("--postgres", "postgres", postgres),
            ("--mssql", "mssql", mssql),
            ("--connection-string", None, connection_string),
        )
        if value is not None
    ]
    if len(given) != 1:
        which = "none was given" if not given else " and ".join(option for option, _, _ in given) + " were given"
        raise UsageError(
            "give exactly one database: --sqlite PATH, --postgres URL, --mssql CONNSTR or "
            f"--connection-string STR ({which}); `psflow config` shows the one in effect"
        )
    _, backend, text = given[0]
    return backend, text


def deployment_key(key_file: Path | None = None, *, replace: bool = False) -> DeploymentKey:
    """Import `key_file` (a public key line or a private key), or keep this server's key, or make one
    when it has none: `psflow init` and `psflow key import`."""
    from psflow import signing

    folder = signing.keys_folder()
    if key_file is not None:
        public, private = signing.read_key_file(key_file)
        signing.import_key(public, private, folder, replace=replace)
        action = "imported"
    else:
        found = signing.current_public(folder)
        public, action = (found, "kept") if found is not None else _made_here_or_meanwhile(folder)
    return DeploymentKey(public.key_id, str(folder), signing.own_signer(folder) is not None, action)


def _made_here_or_meanwhile(folder: Path) -> tuple[PublicKey, str]:
    """A new key, or the one another psflow made at the same moment (two `init`s at once)."""
    from psflow import signing
    from psflow.errors import DeploymentKeyError

    try:
        return signing.create_key(folder).public, "created"
    except DeploymentKeyError:
        public = signing.current_public(folder)
        if public is None:
            raise
        return public, "kept"


def config(db: str | None = None) -> dict[str, Any]:
    """`psflow config`: the database in effect (as psflow reads it, whether it exists yet) and
    where that came from (--db, PSFLOW_DB, the config file or the default), and every place
    psflow looks, as written there; secrets masked. It reads settings only: for a server
    database `exists` is None (it does not connect)."""
    from psflow.settings import config_path
    from psflow.store.urls import init_command

    places = all_settings(db)
    effective = next(place for place in places if place.url)  # the default always names one
    url, error = _resolved(effective.url or "")
    path = config_path()
    return {
        "database": mask_password(url or effective.url or ""),
        "source": effective.source,
        "where": effective.where,
        "exists": _exists(url) if url else None,
        "init": init_command(url) if url else None,
        "error": error,
        "config_file": str(path),
        "config_file_exists": path.is_file(),
        "settings": [
            {
                "source": place.source,
                "where": place.where,
                "database": mask_password(place.url) if place.url else None,
                "in_effect": place is effective,
                "error": place.error,
            }
            for place in places
        ],
    }


def _resolved(text: str) -> tuple[str | None, str | None]:
    """(the URL `text` names, None) or (None, why it names none)."""
    from psflow.errors import PsflowError

    try:
        return resolve(text), None
    except PsflowError as error:
        return None, str(error)


def _exists(url: str) -> bool | None:
    """Whether the SQLite file `url` names exists (None for a server database: not asked)."""
    from psflow.store import describe

    scheme, sep, _ = url.partition("://")
    return Path(describe(url)).is_file() if not sep or scheme.lower() == "sqlite" else None
