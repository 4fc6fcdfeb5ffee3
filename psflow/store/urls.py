"""Which database a URL, a connection string or a bare path names; the default one; and how to
show any of them without its secrets (`mask_password`, used wherever a database is named)."""

from __future__ import annotations

import re
from pathlib import Path

from peewee import Database

from psflow.errors import StoreError

SCHEMES = "sqlite:///PATH, postgresql://USER:PASSWORD@HOST:PORT/DB, mssql://USER:PASSWORD@HOST:PORT/DB, or a file path"


def default_url() -> str:
    """The embedded default: a SQLite file in the user's data folder (made when first written)."""
    from platformdirs import user_data_path

    return f"sqlite:///{user_data_path('psflow', appauthor=False) / 'psflow.sqlite'}"


def open_database(url: str, *, create: bool = True, folders: bool = False) -> Database:
    """A peewee Database for `url`; raises StoreError with what to write instead.

    `create=False`: a SQLite file that does not exist is refused, never created (see
    psflow.store.backends.sqlite, also for `folders`).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        if not url.strip():
            raise StoreError(f"empty database URL; use {SCHEMES}")
        from psflow.store.backends.sqlite import open_sqlite

        return open_sqlite(url, create=create, folders=folders)
    scheme = scheme.lower()
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise StoreError(f"bad SQLite URL {url!r}: write sqlite:///relative/path or sqlite:////absolute/path")
        from psflow.store.backends.sqlite import open_sqlite

        path, _, query = rest[1:].partition("?")
        return open_sqlite(path, query, create=create, folders=folders)
    if scheme in ("postgresql", "postgres"):
        from psflow.store.backends.postgres import open_postgres

        return open_postgres(url)
    if scheme in ("mssql", "mssql+pytds", "mssql+pyodbc"):
        from psflow.store.backends.mssql import open_mssql

        return open_mssql(url)
    raise StoreError(f"unsupported database URL {mask_password(url)!r}; use {SCHEMES}")


def resolve(text: str) -> str:
    """The psflow URL for what `--db`, PSFLOW_DB or the config file say: a URL, a connection
    string as `psflow init --connection-string` takes it (`Host=pg01;…;Password=…`), or a
    SQLite file path (a path that begins like a connection string is read as one: write
    sqlite:///PATH for such a file)."""
    from psflow.store.connstrings import to_url, written_as_pairs

    return to_url(text).url if "://" not in text and written_as_pairs(text) else text


def init_command(url: str) -> str:
    """The `psflow init` that creates psflow's tables in the database at `url`, for messages."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower() if sep else "sqlite"
    if scheme == "sqlite":
        import shlex

        return f"psflow init --sqlite {shlex.quote(describe(url))}"
    return "psflow init --postgres URL" if scheme.startswith("postgres") else "psflow init --mssql CONNSTR"


# Keys whose value is a secret, in a URL's query or a connection string (compared lower-case,
# without spaces and underscores): password=, pwd=, sslpassword=, …
_SECRET_KEY = re.compile(r"password|passwd|^pwd$|^pass$|secret|token")
_QUERY_SECRET = re.compile(r"(?P<key>[?&;][^=&;#?]+=)(?P<value>[^&;#]*)")
MASK = "***"


def mask_password(text: str) -> str:
    """`text` (a URL, a connection string or a path) with every secret in it replaced by ***:
    `user:***@host`, `?password=***`, `Password=***;`, `Pwd={***}`. Safe to print.

    It errs on the side of hiding: in a URL everything between the user name and the last `@`
    is masked, so an `@` in a query value hides the host too rather than show a password.
    """
    if "://" in text:
        return _mask_url(text)
    key = text.partition("=")[0]
    if "=" in text and (";" in text or _secret(key)):  # a connection string, not a path with a "=" in it
        return _mask_pairs(text)
    return text


def _mask_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    rest = _QUERY_SECRET.sub(
        lambda match: match["key"] + (MASK if _secret(match["key"][1:-1]) else match["value"]), rest
    )
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        rest = f"{credentials.split(':', 1)[0]}:{MASK}@{host}"
    return f"{scheme}://{rest}"


def _mask_pairs(text: str) -> str:
    """A `Key=Value;…` connection string with the secret values masked, quoted or not; text that
    does not parse is masked from a secret key to the next part that looks like `Key=`."""
    masked, position = [], 0
    for match in _PAIR.finditer(text):
        if not _secret(match["key"]):
            continue
        value = match["value"]
        quoted = value[:1] in ("'", '"', "{")
        closing = {"{": "}"}.get(value[:1], value[:1])
        masked.append(text[position : match.start("value")] + (value[0] + MASK + closing if quoted else MASK))
        position = match.end("value")
    return "".join(masked) + text[position:]


# Key=, then a value: '…' or "…" (the quote doubled inside), ODBC {…} (`}}` inside), each possibly
# unclosed (it then runs to the end), or a bare value up to the next `;` that starts a `Key=` part.
_PAIR = re.compile(
    r"""(?P<key>[^;=]+)=\s*(?P<value>'(?:[^']|'')*(?:'|$)|"(?:[^"]|"")*(?:"|$)|\{(?:[^}]|\}\})*(?:\}|$)"""
    r"""|(?:[^;]|;(?=[^=]*(?:;|$)))*)"""
)


def _secret(key: str) -> bool:
    return bool(_SECRET_KEY.search(re.sub(r"[\s_]+", "", key).lower()))


def describe(url: str) -> str:
    """Where the data is, for messages: a path for SQLite, a masked URL otherwise."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return str(Path(url).expanduser())
    if scheme.lower() == "sqlite":
        return rest[1:].partition("?")[0]
    return mask_password(url)
