"""psflow.settings: the precedence of database settings, and the config file it reads and writes.

Every test points PSFLOW_CONFIG into its own folder: the real user's config is never touched.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import stat
import tomllib
from pathlib import Path

import pytest

from psflow import settings
from psflow.settings import SettingsError


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("PSFLOW_CONFIG", str(path))
    monkeypatch.delenv("PSFLOW_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the default SQLite file's folder
    return path


def test_default_when_nothing_is_set(tmp_path):
    setting = settings.database_setting(None)
    assert setting.source == "default"
    assert setting.url == f"sqlite:///{tmp_path / 'data' / 'psflow' / 'psflow.sqlite'}"


def test_each_setting_beats_the_ones_after_it(own_config, monkeypatch):
    settings.save_database_url("sqlite:////from/file.sqlite")
    assert settings.database_setting(None) == settings.Setting("file", str(own_config), "sqlite:////from/file.sqlite")
    monkeypatch.setenv("PSFLOW_DB", "sqlite:////from/env.sqlite")
    assert settings.database_setting(None) == settings.Setting("env", "PSFLOW_DB", "sqlite:////from/env.sqlite")
    assert settings.database_setting("sqlite:////from/flag.sqlite") == settings.Setting(
        "flag", "--db", "sqlite:////from/flag.sqlite"
    )


def test_empty_values_say_nothing(monkeypatch):
    monkeypatch.setenv("PSFLOW_DB", "")
    assert settings.database_setting("").source == "default"


def test_config_file_is_read_only_when_needed(own_config, monkeypatch):
    """A broken config file does not break commands that --db or PSFLOW_DB already decided."""
    own_config.parent.mkdir(parents=True)
    own_config.write_text("this is = not [toml")
    assert settings.database_setting("sqlite:////x.sqlite").source == "flag"
    monkeypatch.setenv("PSFLOW_DB", "sqlite:////y.sqlite")
    assert settings.database_setting(None).source == "env"
    monkeypatch.delenv("PSFLOW_DB")
    with pytest.raises(SettingsError, match=f"config file {own_config} is not valid TOML"):
        settings.database_setting(None)
    places = settings.all_settings(None)
    assert [place.source for place in places] == list(settings.SOURCES)
    assert "not valid TOML" in places[2].error and places[2].url is None


def test_config_url_must_be_a_string(own_config):
    own_config.parent.mkdir(parents=True)
    own_config.write_text("[database]\nurl = 3\n")
    with pytest.raises(SettingsError, match="url must be a string"):
        settings.configured_url()


def test_saved_file_is_private_toml_and_keeps_other_settings(own_config):
    own_config.parent.mkdir(parents=True)
    own_config.write_text(
        '# mine\nlog_level = "debug"\n[database]\nurl = "old"\npool = 5\n[other.deep]\nwhen = 2026-01-01\n'
    )
    url = 'postgresql://ops:p@ss"w\\rd@pg01/psflow'

    assert settings.save_database_url(url) == own_config

    data = tomllib.loads(own_config.read_text())
    assert data == {
        "log_level": "debug",
        "database": {"url": url, "pool": 5},
        "other": {"deep": {"when": dt.date(2026, 1, 1)}},
    }
    assert stat.S_IMODE(own_config.stat().st_mode) == 0o600
    assert [path.name for path in own_config.parent.iterdir()] == ["config.toml"]  # no temporary left


def test_saving_creates_the_folder(own_config):
    settings.save_database_url("sqlite:////a.sqlite")
    assert settings.configured_url() == "sqlite:////a.sqlite"
    assert stat.S_IMODE(own_config.parent.stat().st_mode) & 0o077 == 0


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        'quote " and \\ backslash',
        "tab\tnew\nline\r",
        "\x00\x01\x1f\x7f control",
        "unicode ✓ é 𝄞",
        "",
        "'single'",
    ],
)
def test_toml_strings_round_trip(value):
    assert tomllib.loads(settings.dump_toml({"a": value, "t": {"k y": [value, 1, 2.5, True]}})) == {
        "a": value,
        "t": {"k y": [value, 1, 2.5, True]},
    }


def test_unwritable_config_location_is_found_before_anything_is_done(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SettingsError, match="is not a folder"):
        settings.check_config_writable(blocker / "config.toml")
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(SettingsError, match="is a directory"):
        settings.check_config_writable(tmp_path / "dir.toml")


def test_failed_write_leaves_the_old_file(own_config, monkeypatch):
    settings.save_database_url("sqlite:////old.sqlite")

    def broken_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SettingsError, match="No space left on device"):
        settings.save_database_url("sqlite:////new.sqlite")
    assert settings.configured_url() == "sqlite:////old.sqlite"
    assert [path.name for path in own_config.parent.iterdir()] == ["config.toml"]


def test_config_path_defaults_to_the_user_config_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("PSFLOW_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert settings.config_path() == tmp_path / "xdg" / "psflow" / "config.toml"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////srv/psflow.sqlite",
        "mssql://ops:it's;$x@db01/psflow?encrypt=yes&login_timeout=5",
        "postgresql://u:p@h/d",
    ],
)
def test_env_lines_give_back_the_url(url):
    posix, powershell = settings.env_lines(url)
    name, value = posix.split("=", 1)
    assert name == "PSFLOW_DB" and shlex.split(value) == [url]
    assert powershell.startswith("$env:PSFLOW_DB = '") and powershell.endswith("'")
    assert powershell[len("$env:PSFLOW_DB = '") : -1].replace("''", "'") == url
