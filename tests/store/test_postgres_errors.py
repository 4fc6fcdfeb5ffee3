"""What a user sees when PostgreSQL cannot be used, and what must not go wrong on it.

Error cases run the real `psflow jobs --db URL` in a subprocess: exit code 2, one
line starting with `psflow: error:`, no traceback, no password.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import pytest

from support.cli import PSFLOW
from support.postgres import PASSWORD_ROLE

PASSWORD = "p@ss:w/rd 1"  # needs percent-encoding in a URL


def run_psflow(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PSFLOW_", "PG"))}
    environment.update(NO_COLOR="1", **(env or {}))
    return subprocess.run(
        [PSFLOW, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    message = result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout, message)
    assert "Traceback" not in message, message
    assert message.startswith("psflow: error: "), message
    assert message.count("\n") == 1 and message.endswith("\n"), message
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture
def password_role(postgres_server) -> str:
    """A role that must log in with PASSWORD (the test cluster trusts every other role)."""
    exists = postgres_server.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,))
    if not exists:
        postgres_server.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN")
    postgres_server.execute(f"ALTER ROLE {PASSWORD_ROLE} PASSWORD %s", (PASSWORD,))
    return PASSWORD_ROLE


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _query(postgres_server, database: str, sql: str) -> list[tuple]:
    with closing(postgres_server.connect(database)) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


# ---- connecting ---------------------------------------------------------------


def test_missing_driver_says_which_extra_to_install(tmp_path):
    fake = tmp_path / "fake" / "psycopg2"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named psycopg2')\n")
    result = run_psflow("jobs", "--db", "postgresql://u:secret@127.0.0.1:5432/db", env={"PYTHONPATH": str(fake.parent)})
    message = assert_one_line_error(result, "psycopg2", "pip install 'psflow[postgres]'")
    assert "secret" not in message


def test_unreachable_server():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_psflow("jobs", "--db", f"postgresql://psflow:secret@127.0.0.1:{port}/psflow")
    message = assert_one_line_error(
        result, f"postgresql://psflow:***@127.0.0.1:{port}/psflow", "connection refused", "server running"
    )
    assert "secret" not in message


def test_wrong_password(postgres_server, postgres_database, password_role):
    url = postgres_server.url(_database_name(postgres_database), user=password_role, password="Wr0ngSecret")
    message = assert_one_line_error(
        run_psflow("jobs", "--db", url), f'password authentication failed for user "{password_role}"', ":***@"
    )
    assert "Wr0ngSecret" not in message


def test_missing_password(postgres_server, postgres_database, password_role):
    url = postgres_server.url(_database_name(postgres_database), user=password_role)
    assert_one_line_error(run_psflow("jobs", "--db", url), "no password supplied", "give it in the URL")


def test_right_password_with_special_characters_connects(postgres_server, postgres_database, password_role):
    name = _database_name(postgres_database)
    postgres_server.execute(f'ALTER DATABASE "{name}" OWNER TO {password_role}')
    url = postgres_server.url(name, user=password_role, password=quote(PASSWORD, safe=""))
    created = run_psflow("init", "--postgres", url)
    assert created.returncode == 0, created.stderr
    result = run_psflow("jobs", "--db", url, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_no_permission_to_create_the_schema(postgres_server, postgres_database, password_role):
    url = postgres_server.url(_database_name(postgres_database), user=password_role, password=quote(PASSWORD, safe=""))
    assert_one_line_error(run_psflow("init", "--postgres", url), "permission denied for schema public")
    assert_one_line_error(
        run_psflow("resume", "--db", url), "permission denied for schema public"
    )  # creates on first use


def test_missing_database(postgres_server):
    url = postgres_server.url("psflow_no_such_database")
    assert_one_line_error(
        run_psflow("jobs", "--db", url), 'database "psflow_no_such_database" does not exist', "createdb"
    )


def test_unknown_user(postgres_server, postgres_database):
    url = postgres_server.url(_database_name(postgres_database), user="psflow_nobody", password="pw")
    assert_one_line_error(run_psflow("jobs", "--db", url), 'role "psflow_nobody" does not exist', "psflow_nobody:***@")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:pw@127.0.0.1:5432/", "names no database"),
        ("postgresql://u:pw@127.0.0.1:99999/db", "Port out of range"),
        ("postgresql://u:pw@127.0.0.1:port/db", "bad PostgreSQL URL"),
    ],
)
def test_bad_url(url, expected):
    message = assert_one_line_error(run_psflow("jobs", "--db", url), expected, "postgresql://USER:PASSWORD@HOST")
    assert ":pw@" not in message


# ---- what PostgreSQL would get wrong without psflow/store/postgres.py ---------

SLOW_BLOCK = """
import time
from psflow import block
with block("Sleep"):
    time.sleep(0.05)
"""

NUL_TEXT = """
from psflow import block, stop
with block("Nul"):
    print("before\\0after")
    value = "a\\0b"
with block("Stop"):
    if value == "a\\0b" and not __import__("os").path.exists("go"):
        stop("Waiting", reason="nul\\0reason")
print("done", value == "a\\0b")
"""


def test_times_keep_sub_second_precision(psflow, tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_BLOCK)
    assert psflow("exec", "slow.py").returncode == 0
    [job] = json.loads(psflow("jobs", "--json").stdout)
    detail = json.loads(psflow("job", job["id"], "--json").stdout)
    [sleep] = detail["blocks"]
    assert 0.04 < sleep["duration"] < 5
    assert job["created"] != int(job["created"])  # REAL would round to ~2 minutes


def test_nul_characters_in_output_and_reason_do_not_break_the_write(psflow, tmp_path):
    (tmp_path / "nul.py").write_text(textwrap.dedent(NUL_TEXT))
    first = psflow("exec", "nul.py")
    assert first.returncode == 3, first.stderr
    (tmp_path / "go").touch()
    second = psflow("resume")
    assert second.returncode == 0, second.stderr
    assert "done True" in second.stdout  # the value itself is codec text: the NUL survives
    assert "1 replayed" in second.stderr


def test_first_use_by_many_processes_at_once(psflow):
    with ThreadPoolExecutor(max_workers=8) as pool:  # resume writes: it creates the schema on first use
        results = list(pool.map(lambda _: psflow("resume"), range(8)))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "nothing to do" in result.stderr
    assert json.loads(psflow("jobs", "--json").stdout) == []


def test_schema_creation_waits_for_another_process_creating_it(postgres_database, monkeypatch):
    """Deterministic: the first creator holds its transaction open while the second arrives."""
    from psflow.store import schema
    from psflow.store.tables import bind_tables
    from psflow.store.urls import open_database

    db = open_database(postgres_database)
    tables = bind_tables(db)
    create_tables = db.create_tables

    def slow_create_tables(*args, **kwargs):
        create_tables(*args, **kwargs)
        time.sleep(0.3)  # still inside the transaction: nothing committed yet

    monkeypatch.setattr(db, "create_tables", slow_create_tables)
    errors = []

    def first_use():  # each thread has its own connection
        try:
            schema.ensure_schema(db, tables)
        except Exception as error:
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=first_use) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
            time.sleep(0.1)
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        assert tables.schema_version.select().count() == 1
    finally:
        db.close()


GATED = """
import os, time
from psflow import block
with block("First"):
    first = 1
with block("Gated"):
    open("started", "w").close()
    while not os.path.exists("gate"):
        time.sleep(0.05)
    gated = 2
with block("Last"):
    last = first + gated
"""


@pytest.mark.e2e  # the real `psflow` command
def test_connections_the_server_drops_are_opened_again(postgres_server, postgres_database, tmp_path):
    """A restart or failover mid-attempt: the heartbeat keeps the lease, the blocks are saved."""
    (tmp_path / "flow.py").write_text(GATED)
    env = {"PSFLOW_DB": postgres_database, "PSFLOW_LEASE_SECONDS": "2"}
    runner = subprocess.Popen(
        [PSFLOW, "exec", "flow.py", "--job", "dropped"],
        cwd=tmp_path,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert runner.poll() is None and time.monotonic() < deadline, runner.communicate()
            time.sleep(0.05)
        name = _database_name(postgres_database)
        sessions = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
        while postgres_server.execute(sessions, (name,))[0][0] < 2:  # the heartbeat connects at its first beat
            assert time.monotonic() < deadline
            time.sleep(0.05)
        terminated = postgres_server.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        assert len(terminated) >= 2  # the runner's connection and its heartbeat's
        time.sleep(2.5)  # longer than the lease: only a renewed lease is still in the future
        [(lease_until,)] = _query(postgres_server, name, "SELECT lease_until FROM psflow_job WHERE id = 'dropped'")
        assert lease_until > time.time(), "the heartbeat stopped renewing the lease"
    finally:
        (tmp_path / "gate").touch()
        _out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err
    assert "3 block(s) ran" in err
    detail = json.loads(run_psflow("job", "dropped", "--json", "--db", postgres_database).stdout)
    assert detail["status"] == "Completed"
    assert [block["name"] for block in detail["blocks"]] == ["First", "Gated", "Last"]
