"""Shared fixtures: a database per test on every backend, and hypothesis profiles.

`db_url` is parametrised over SQLite and PostgreSQL, so each behavioural test
runs on both. PostgreSQL is a real throwaway server started once per session
(tests/postgres_server.py); MS SQL Server runs only when PSFLOW_TEST_MSSQL names one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["postgres_server"]

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = ["sqlite", "postgres"] + (["mssql"] if os.environ.get("PSFLOW_TEST_MSSQL") else [])


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'psflow.sqlite'}"
    return request.getfixturevalue(f"{request.param}_database")


@pytest.fixture
def mssql_database():
    """PSFLOW_TEST_MSSQL's scratch database without psflow's tables, before and after the test."""
    from psflow.store.urls import open_database

    url = os.environ["PSFLOW_TEST_MSSQL"]

    def drop() -> None:
        db = open_database(url)
        try:
            for table in (
                "psflow_signal", "psflow_block", "psflow_attempt", "psflow_job", "psflow_workflow", "psflow_schema_version",
            ):
                db.execute_sql(f"IF OBJECT_ID(N'[{table}]', N'U') IS NOT NULL DROP TABLE [{table}]")
        finally:
            db.close()

    drop()
    yield url
    drop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database, for tests about SQLite itself."""
    return f"sqlite:///{tmp_path / 'psflow.sqlite'}"


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reads or writes the real user's psflow config file."""
    if "PSFLOW_CONFIG" not in os.environ:
        monkeypatch.setenv("PSFLOW_CONFIG", str(tmp_path_factory.mktemp("config") / "config.toml"))


PSFLOW = shutil.which("psflow") or str(Path(sys.executable).with_name("psflow"))


@pytest.fixture
def psflow(tmp_path: Path, db_url: str):
    """Run the real `psflow` console script against this test's database, in tmp_path."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120):
        environment = {key: value for key, value in os.environ.items() if key != "PSFLOW_JOB_ID"}
        environment.update({"PSFLOW_DB": db_url, "NO_COLOR": "1", **(env or {})})
        return subprocess.run(
            [PSFLOW, *args],
            cwd=cwd or tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    run.db_url = db_url
    return run
