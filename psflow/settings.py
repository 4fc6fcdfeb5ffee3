"""Which database psflow uses, decided in one place: `--db`, then PSFLOW_DB, then the
config file, then the embedded default (a SQLite file in the user data folder).

The config file is TOML, `[database] url = "…"`, at $PSFLOW_CONFIG or else
platformdirs' `user_config_path("psflow") / "config.toml"`. It may hold a password, so
it is written atomically (temporary file, fsync, rename) with mode 0600, and read
only when neither `--db` nor PSFLOW_DB decided already.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psflow.errors import UsageError

# Every command reads its setting through here: modules only writing needs are imported there.

ENV_DB = "PSFLOW_DB"
ENV_CONFIG = "PSFLOW_CONFIG"
SOURCES = ("flag", "env", "file", "default")  # highest precedence first


class SettingsError(UsageError):
    """The config file cannot be read or written."""


@dataclass(frozen=True)
class Setting:
    """One place a database can come from, and what it says (url None: it says nothing)."""

    source: str  # one of SOURCES
    where: str  # "--db", "PSFLOW_DB", the config file's path, or "user data folder"
    url: str | None
    error: str | None = None  # the config file could not be read


def database_setting(flag: str | None) -> Setting:
    """The setting in effect: the first of --db, PSFLOW_DB, config file, default that names a database."""
    if flag:
        return Setting("flag", "--db", flag)
    env = os.environ.get(ENV_DB)
    if env:
        return Setting("env", ENV_DB, env)
    path = config_path()
    url = configured_url(path)
    if url:
        return Setting("file", str(path), url)
    return _default()


def all_settings(flag: str | None) -> list[Setting]:
    """Every place, in precedence order, for `psflow config`; an unreadable config file is reported, not raised."""
    path = config_path()
    try:
        file = Setting("file", str(path), configured_url(path))
    except SettingsError as error:
        file = Setting("file", str(path), None, error=str(error))
    flag_setting = Setting("flag", "--db", flag or None)
    return [flag_setting, Setting("env", ENV_DB, os.environ.get(ENV_DB) or None), file, _default()]


def _default() -> Setting:
    from psflow.store.urls import default_url

    return Setting("default", "user data folder", default_url())


# ---- the config file ---------------------------------------------------------------


def config_path() -> Path:
    """$PSFLOW_CONFIG, or config.toml in the user's config folder (~/.config/psflow on Linux)."""
    chosen = os.environ.get(ENV_CONFIG)
    if chosen:
        return Path(chosen).expanduser()
    from platformdirs import user_config_path

    return user_config_path("psflow", appauthor=False) / "config.toml"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The config file's contents ({} when there is none)."""
    import tomllib

    path = path or config_path()
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {path} is not valid TOML: {error}") from None
    except OSError as error:
        raise SettingsError(f"cannot read config file {path}: {error.strerror or error}") from None


def configured_url(path: Path | None = None) -> str | None:
    """`[database] url` from the config file, or None."""
    path = path or config_path()
    database = read_config(path).get("database", {})
    url = database.get("url") if isinstance(database, dict) else None
    if url is not None and not isinstance(url, str):
        raise SettingsError(f"config file {path}: [database] url must be a string")
    return url or None


def check_config_writable(path: Path | None = None) -> Path:
    """Fail before anything is done if the config file could not be saved; the path."""
    path = path or config_path()
    if path.is_dir():
        raise SettingsError(f"cannot save settings: {path} is a directory")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest folder that exists must let us create the rest
    if not folder.is_dir():
        raise SettingsError(
            f"cannot save settings in {path}: {folder} is not a folder (set {ENV_CONFIG} to another file)"
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SettingsError(
            f"cannot save settings in {path}: {folder} is not writable (set {ENV_CONFIG} to another file)"
        )
    read_config(path)  # an unreadable file is not silently replaced
    return path


def save_database_url(url: str, path: Path | None = None) -> Path:
    """Put `url` in the config file as [database] url, keeping its other settings; the path."""
    path = check_config_writable(path)
    data = read_config(path)
    section = data.get("database")
    data["database"] = {**(section if isinstance(section, dict) else {}), "url": url}
    _write_atomically(path, dump_toml(data))
    return path


def _write_atomically(path: Path, text: str) -> None:
    """A reader sees the old file or the new one, never half of it; only the owner can read it."""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    except OSError as error:
        raise SettingsError(f"cannot save settings in {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise SettingsError(f"cannot save settings in {path}: {error.strerror or error}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_HEADER = (
    "# psflow settings. `psflow init … --settings file` writes [database] url;\n"
    "# `psflow config` shows which database is in effect and why (--db and PSFLOW_DB come first).\n"
)


def dump_toml(data: dict[str, Any]) -> str:
    """TOML text for `data` (strings, numbers, booleans, dates, lists of them, and tables)."""
    lines = [_HEADER]
    _dump_table(data, [], lines)
    return "\n".join(lines).rstrip("\n") + "\n"


def _dump_table(table: dict[str, Any], name: list[str], lines: list[str]) -> None:
    values = [(key, value) for key, value in table.items() if not isinstance(value, dict)]
    tables = [(key, value) for key, value in table.items() if isinstance(value, dict)]
    if name and (values or not tables):
        lines.append(f"[{'.'.join(_toml_key(part) for part in name)}]")
    for key, value in values:
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    if values:
        lines.append("")
    for key, value in tables:
        _dump_table(value, [*name, key], lines)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    from datetime import date, datetime, time

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, int) or math.isfinite(value) else _special(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise SettingsError(f"cannot write {type(value).__name__} values to the config file")


def _special(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _toml_string(text: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif char in "\b\t\n\f\r":
            escaped.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


# ---- the environment -------------------------------------------------------------


def env_lines(url: str) -> list[str]:
    """The line that puts `url` in a POSIX environment (sh, systemd, cron), and PowerShell's form."""
    import shlex

    return [f"{ENV_DB}={shlex.quote(url)}", f"$env:{ENV_DB} = '{url.replace(chr(39), chr(39) * 2)}'"]
