"""Fixtures for the end-to-end tests: the real `psflow` command on this test's database, in its folder."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from support import cli
from support.database import TABLES, row_counts_of
from support.scripts import detail


@pytest.fixture
def clock():
    """The real clock: jobs set up in this process (the `store` fixture) are read by the real command."""
    from psflow.clock import SYSTEM_CLOCK

    return SYSTEM_CLOCK


@pytest.fixture
def empty_database(psflow) -> str:
    """This test's database with psflow's tables and nothing in them (`psflow init`): commands that
    only read refuse a database that does not exist. Its URL."""
    created = psflow("init", "--connection-string", psflow.db_url)
    assert created.returncode == 0, created.stderr
    return psflow.db_url


@pytest.fixture
def jobs(psflow) -> Callable[..., list[dict]]:
    """jobs(*options): `psflow jobs --json [options]`, parsed."""

    def jobs(*options: str) -> list[dict]:
        result = psflow("jobs", "--json", *options)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return jobs


@pytest.fixture
def job_detail(psflow) -> Callable[[str], dict]:
    """job_detail(id): what `psflow job ID --json` prints (support.scripts.detail)."""
    return functools.partial(detail, psflow)


@pytest.fixture
def psflow_with_job_id(psflow, tmp_path: Path):
    """Run `psflow` with PSFLOW_JOB_ID set in its environment (the `psflow` fixture removes it)."""

    def run(job_id: str, *args: str) -> subprocess.CompletedProcess:
        environment = {**cli.environment(psflow.db_url), "PSFLOW_JOB_ID": job_id}
        return subprocess.run(
            [cli.PSFLOW, *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    return run


@pytest.fixture
def row_counts(db_url: str) -> Callable[[], dict[str, int]]:
    """row_counts(): rows in the job, attempt and block tables of this test's database (0 when it has none);
    read directly, so that a check that nothing was written does not itself create the schema or file."""
    return lambda: row_counts_of(db_url, TABLES[:3])


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """This test's own psflow config file (not there until a command writes it)."""
    return tmp_path / "config" / "config.toml"


@pytest.fixture
def run(tmp_path: Path, config_file: Path):
    """run(*args, env=None, prefix=()): `psflow ARGS` in tmp_path with this test's own settings: its
    config file, its data folder (tmp_path/data) and no PSFLOW_DB, unless `env` sets one."""

    def run(*args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        environment = {key: value for key, value in os.environ.items() if key not in ("PSFLOW_DB", "PSFLOW_JOB_ID")}
        environment.update(
            {"PSFLOW_CONFIG": str(config_file), "XDG_DATA_HOME": str(tmp_path / "data"), "NO_COLOR": "1", **(env or {})}
        )
        return subprocess.run(
            [*prefix, cli.PSFLOW, *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    return run
