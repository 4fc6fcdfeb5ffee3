"""The throwaway PostgreSQL server the tests run against (tests/support/postgres.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg2

from support import postgres as plugin

TESTS = Path(__file__).resolve().parents[1]


def test_each_test_gets_a_new_empty_database(postgres_server, postgres_database):
    assert postgres_database.startswith(f"postgresql://postgres@127.0.0.1:{postgres_server.port}/")
    with psycopg2.connect(postgres_database) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), count(*) FROM pg_tables WHERE schemaname = 'public'")
        name, tables = cursor.fetchone()
    connection.close()
    assert tables == 0
    assert postgres_database.endswith(f"/{name}")
    assert "each_test_gets" in name


def test_database_is_dropped_even_while_a_session_is_open(postgres_server):
    url = postgres_server.create_database("psflow_fixture_drop_check")
    connection = psycopg2.connect(url)  # left open, as a crashed test would
    try:
        postgres_server.drop_database("psflow_fixture_drop_check")
        remaining = postgres_server.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", ("psflow_fixture_drop_check",)
        )
        assert remaining == [(0,)]
    finally:
        connection.close()


def test_server_is_private_fast_and_not_root(postgres_server):
    settings = dict(
        postgres_server.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('listen_addresses', 'fsync', 'synchronous_commit', 'max_connections', 'unix_socket_directories')"
        )
    )
    assert settings == {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "max_connections": "200",
        "unix_socket_directories": str(postgres_server.root / "socket"),
    }
    owner = Path(f"/proc/{postgres_server.process.pid}").stat().st_uid
    assert owner != 0


def _run_inner_session(tmp_path: Path, test_source: str, conftest: str = "", **env: str):
    """Run a separate pytest session with the plugin loaded; (result, what the inner test recorded)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(test_source))
    environment = {**os.environ, "PYTHONPATH": str(TESTS), "PSFLOW_TEST_POSTGRES": "", **env}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "support.postgres", "-rs"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    record = tmp_path / "record.txt"
    return result, record.read_text().split() if record.exists() else []


def test_server_is_stopped_and_removed_even_when_tests_fail(postgres_server, tmp_path):
    # (asks for postgres_server only to be skipped with the other PostgreSQL tests)
    result, (root, pid) = _run_inner_session(
        tmp_path,
        """
        from pathlib import Path

        def test_fails(postgres_server, postgres_database):
            Path("record.txt").write_text(f"{postgres_server.root} {postgres_server.process.pid}")
            assert False, "on purpose"
        """,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout
    assert not Path(root).exists()
    assert not Path(f"/proc/{pid}").exists()


def test_missing_binaries_fail_with_what_to_install(tmp_path):
    result, _ = _run_inner_session(
        tmp_path,
        "def test_needs_postgres(postgres_database):\n    pass\n",
        conftest="import support.postgres\nsupport.postgres.find_postgres_bin = lambda: None\n",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "apt-get install -y postgresql" in result.stdout
    assert "1 error" in result.stdout


def test_postgres_tests_can_be_skipped_explicitly(tmp_path):
    result, _ = _run_inner_session(
        tmp_path,
        "def test_needs_postgres(postgres_database):\n    pass\n",
        PSFLOW_TEST_POSTGRES="0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "PSFLOW_TEST_POSTGRES=0" in result.stdout


def test_database_names_are_unique_valid_identifiers():
    names = {plugin._database_name(f"test_x[postgres-{'long' * 30}]") for _ in range(3)}
    assert len(names) == 3
    for name in names:
        assert re.fullmatch(r"t\d{4,}_test_x_postgres_(long)+l?o?n?g?", name), name
        assert len(name) <= 63


def test_admin_session_survives_being_terminated(postgres_server):
    postgres_server.execute("SELECT 1")
    with postgres_server.connect() as other, other.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 'postgres' AND pid <> pg_backend_pid() AND usename = 'postgres'"
        )
    other.close()
    assert postgres_server.execute("SELECT 2") == [(2,)]
