"""Fixtures for the tests of what the `psflow` command prints: the command run in this process
(support.cli.invoke, through psflow.cli.main) on a SQLite database; how it prints does not depend
on the backend, so these run on SQLite only. Jobs are set up with the `store` fixture."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from support.cli import invoke


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def clock():
    """The real clock: the command run here reads it, so jobs set up for it are made on it too."""
    from psflow.clock import SYSTEM_CLOCK

    return SYSTEM_CLOCK


@pytest.fixture
def cli(store_url: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """cli(*args, env=None): `psflow ARGS` in this process, on this test's database, in its folder."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return invoke(store_url, tmp_path, *args, env=env)

    return run
