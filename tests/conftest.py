"""Shared fixtures: a database per test, on the backends the test is about, and hypothesis profiles.

`db_url` is a fresh, empty database. Tests of the store, the runtime and the API
(in-process) run on every backend: SQLite and a real PostgreSQL server started once
per session (tests/support/postgres.py), plus MS SQL Server when PSFLOW_TEST_MSSQL
names one. End-to-end tests (tests/e2e, and any test using the `psflow` fixture,
marked `e2e`: they start the real `psflow` command) run on SQLite, except those marked `every_backend`; tests/e2e/test_backends.py
runs each command once on every other backend.

`pytest -m "not e2e"` is the quick inner loop.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from support.cli import end_started

pytest_plugins = ["support.postgres"]

# Hypothesis's own advice: fewer examples while developing, more in CI (CI=true, as `.ci/run` sets),
# many more on demand (HYPOTHESIS_PROFILE=fuzz).
_UNHURRIED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=10, **_UNHURRIED)
settings.register_profile("ci", max_examples=25, **_UNHURRIED)
settings.register_profile("fuzz", max_examples=1000, **_UNHURRIED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

BACKENDS = ["sqlite", "postgres"] + (["mssql"] if os.environ.get("PSFLOW_TEST_MSSQL") else [])
E2E = Path(__file__).parent / "e2e"
CORPUS = Path(__file__).parent / "robustness"  # psflow over real code nobody here wrote: end to end too


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: starts the real `psflow` command in a subprocess, or runs psflow over a corpus of real code"
    )
    config.addinivalue_line("markers", "every_backend: an end-to-end test that runs on every backend, not only SQLite")
    config.addinivalue_line("markers", "other_backends: an end-to-end test for every backend but SQLite")


@pytest.fixture(autouse=True)
def _started_commands_end_with_their_test():
    """No `psflow` a test started in the background outlives it (support.cli.start)."""
    yield
    end_started()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parents = Path(item.fspath).parents
        if E2E in parents or CORPUS in parents or "psflow" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_url" not in metafunc.fixturenames:
        return
    marked = metafunc.definition.get_closest_marker
    if marked("other_backends"):
        backends = [backend for backend in BACKENDS if backend != "sqlite"]
    elif marked("every_backend") or E2E not in Path(metafunc.definition.fspath).parents:
        backends = BACKENDS
    else:
        backends = ["sqlite"]
    metafunc.parametrize("db_url", backends, indirect=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of the backend the test is parametrised with."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'psflow.sqlite'}"
    return request.getfixturevalue(f"{request.param}_database")


@pytest.fixture
def mssql_database():
    """PSFLOW_TEST_MSSQL's scratch database without psflow's tables, before and after the test."""
    from psflow.store.tables import TEMPLATES
    from psflow.store.urls import open_database

    url = os.environ["PSFLOW_TEST_MSSQL"]

    def drop() -> None:
        db = open_database(url)
        try:
            for model in reversed(TEMPLATES):
                table = model._meta.table_name
                db.execute_sql(f"IF OBJECT_ID(N'[{table}]', N'U') IS NOT NULL DROP TABLE [{table}]")
        finally:
            db.close()

    drop()
    yield url
    drop()


@pytest.fixture
def psflow(tmp_path: Path, db_url: str):
    """psflow(*args, env=None, cwd=None, timeout=120): run the real `psflow` against this test's database."""
    from support import cli

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120):
        return cli.run(db_url, cwd or tmp_path, *args, env=env, timeout=timeout)

    run.db_url = db_url
    return run


@pytest.fixture
def clock():
    """A fake clock (support/clock.py) whose readings move on by a millisecond, as a real one does."""
    from support.clock import FakeClock

    return FakeClock(tick=0.001)


@pytest.fixture
def store_url(db_url: str) -> str:
    """The database `store` opens: this test's `db_url` (tests/cli narrows it to SQLite)."""
    return db_url


@pytest.fixture
def store(store_url: str, clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """This test's database opened in this process on `clock`, with this process in the test's
    folder (scripts run here read and write relative paths there) and no job id leaking in."""
    from psflow.store import open_store

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PSFLOW_JOB_ID", raising=False)
    monkeypatch.delenv("PSFLOW_DB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # stored sources' compiled code
    with open_store(store_url, clock=clock) as opened:
        yield opened


@pytest.fixture
def elsewhere(tmp_path: Path, store, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder, this process's working folder from now on (after `store` set up the test's
    folder): no script file is there."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(name, source, cold=False): a dedented script in the test's folder; its path.

    The script is compiled here at once, into the code cache beside it, as a second run of it
    finds it: each `psflow` command a test starts then reads the cache instead of importing libcst
    (~0.3 s a command). `cold=True` leaves the first compile to the command; a script that does not
    compile is left to it too.
    """
    from psflow.errors import ScriptError
    from psflow.loading.loader import load_script
    from psflow.transform import TransformError
    from support.scripts import write_script

    def written(name: str, source: str, *, cold: bool = False) -> Path:
        path = write_script(tmp_path, name, source)
        if not cold and path.suffix == ".py":
            with contextlib.suppress(TransformError, ScriptError):
                load_script(path)
        return path

    return written


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database, for tests about SQLite itself."""
    return f"sqlite:///{tmp_path / 'psflow.sqlite'}"


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reads or writes the real user's psflow config file."""
    if "PSFLOW_CONFIG" not in os.environ:
        monkeypatch.setenv("PSFLOW_CONFIG", str(tmp_path_factory.mktemp("config") / "config.toml"))
