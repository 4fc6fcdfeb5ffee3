"""A throwaway PostgreSQL server for the test session, and a new empty database per test.

Loaded as a pytest plugin by tests/conftest.py. `postgres_server` runs initdb into
a fresh temporary folder and starts one cluster for the whole session (under a
second); `postgres_database` creates a brand-new database in it for one test and
drops it afterwards (~10 ms: the cluster lives in /dev/shm when that has room).

The cluster trusts every local connection except the role PASSWORD_ROLE, which
must give its password (scram-sha-256): tests of authentication errors use it.
It listens on 127.0.0.1 only, on a free port, and its unix socket lives in the
temporary folder, so it never meets a system cluster.

PostgreSQL refuses to run as root, so as root (CI) the server runs as the
Debian `postgres` user (else `nobody`), as `runuser -u postgres --` would.
Without the binaries the tests fail with what to install, unless
PSFLOW_TEST_POSTGRES=0 says to skip them.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_SECONDS = 30
PASSWORD_ROLE = "psflow_password_user"
_BINARIES = ("initdb", "pg_ctl", "postgres")
_INSTALL_HINT = (
    "install the Debian package `postgresql` (apt-get install -y postgresql), "
    "or set PSFLOW_TEST_POSTGRES=0 to skip the PostgreSQL tests"
)
_ROOT_PREFIX = "psflow-pg-"
_SHM_NEEDED = 1 << 30  # the cluster needs ~60 MB; leave plenty for everyone else
_database_numbers = count(1)


@dataclass
class PostgresServer:
    """One running cluster: where it listens, and how to make and drop databases in it."""

    bin_dir: Path
    root: Path
    port: int
    host: str = "127.0.0.1"
    superuser: str = "postgres"
    version: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)
    _admin: Any = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres", *, user: str | None = None, password: str | None = None) -> str:
        """`postgresql://user[:password]@127.0.0.1:PORT/database`."""
        credentials = user or self.superuser
        if password is not None:
            credentials += f":{password}"
        return f"postgresql://{credentials}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres", **options: Any):
        """A new psycopg2 connection as the superuser (autocommit)."""
        import psycopg2

        options.setdefault("connect_timeout", 5)
        connection = psycopg2.connect(host=self.host, port=self.port, user=self.superuser, dbname=database, **options)
        connection.autocommit = True
        return connection

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one admin statement in the `postgres` database; rows if it returns any."""
        import psycopg2

        for last_try in (False, True):
            if self._admin is None or self._admin.closed:
                self._admin = self.connect()
            try:
                with self._admin.cursor() as cursor:
                    cursor.execute(sql, params)
                    return cursor.fetchall() if cursor.description else []
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                # A test may have ended our session (pg_terminate_backend): reconnect once.
                if last_try or not self._admin.closed:
                    raise
                self._close_admin()
        raise AssertionError("unreachable")

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name`; its URL."""
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop `name`, ending any session still connected to it."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"

    def _close_admin(self) -> None:
        if self._admin is not None:
            with suppress(Exception):
                self._admin.close()
            self._admin = None

    def restart(self, *, stopped: Callable[[], None] | None = None) -> None:
        """Stop the server as a restart does (every session ended), call `stopped`, start it again
        on the same port."""
        self.stop()
        if stopped is not None:
            stopped()
        _launch(self)
        _wait_until_ready(self, last_attempt=True)

    def stop(self) -> None:
        """Fast shutdown (pg_ctl stop -m fast); kill it if that does not work."""
        self._close_admin()
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            _run_as_owner(
                [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "20"],
                timeout=30,
            )
            process.wait(timeout=10)
        except (subprocess.SubprocessError, OSError):
            process.kill()
            process.wait(timeout=10)


# ---- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of its own for this test session, stopped and removed at the end."""
    if os.environ.get("PSFLOW_TEST_POSTGRES", "").strip() == "0":
        pytest.skip("PostgreSQL tests disabled by PSFLOW_TEST_POSTGRES=0")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.fail("the PostgreSQL tests need psycopg2: pip install -e '.[test]'", pytrace=False)
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.fail(f"PostgreSQL server programs ({', '.join(_BINARIES)}) not found: {_INSTALL_HINT}", pytrace=False)
    server = start_server(bin_dir)
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a brand-new, empty database, dropped after the test."""
    name = _database_name(request.node.name)
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


# ---- starting a cluster -----------------------------------------------------


def find_postgres_bin() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: from PATH, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)  # Debian links point into the versioned folder
        candidates.append(Path(on_path).parent)
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(folder) for folder in versioned), key=_version_key, reverse=True)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in _BINARIES):
            return folder
    return None


def start_server(bin_dir: Path, *, attempts: int = 3) -> PostgresServer:
    """initdb into a new temporary folder and start a server on a free port; wait until it answers."""
    root = _make_root()
    server = None
    try:
        _initdb(bin_dir, root)
        for attempt in range(1, attempts + 1):
            server = PostgresServer(bin_dir=bin_dir, root=root, port=_free_port())
            _launch(server)
            if _wait_until_ready(server, last_attempt=attempt == attempts):
                return server
            # Someone took the port between our probe and the server's bind: try another.
    except BaseException:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


def _make_root() -> Path:
    owner = _server_user()
    base = _base_folder(owner is not None)
    _remove_stale_roots(base)
    root = Path(tempfile.mkdtemp(prefix=_ROOT_PREFIX, dir=base))
    (root / "session.pid").write_text(str(os.getpid()))
    (root / "socket").mkdir()
    if owner is not None:
        for path in (root, root / "socket"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    return root


def _remove_stale_roots(base: Path) -> None:
    """Remove folders of sessions that were killed (SIGKILL skips teardown): ~60 MB each, often of memory."""
    for root in base.glob(f"{_ROOT_PREFIX}*"):
        try:
            pids = [int((root / "session.pid").read_text())]
            postmaster = root / "data" / "postmaster.pid"
            if postmaster.exists():
                pids.append(int(postmaster.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue  # not ours, or still being set up
        if not any(_alive(pid) for pid in pids):
            shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _base_folder(other_user: bool) -> Path:
    """Memory (/dev/shm) when it has room: CREATE DATABASE takes ~10 ms there, ~200 ms on some VM disks."""
    shm = Path("/dev/shm")
    try:
        usage = os.statvfs(shm)
        if os.access(shm, os.W_OK) and _world_traversable(shm) and usage.f_bavail * usage.f_frsize >= _SHM_NEEDED:
            return shm
    except OSError:
        pass
    base = Path(tempfile.gettempdir())
    # The server user must be able to reach the folder: pytest's own temp folders are 0700 root.
    if other_user and not _world_traversable(base):
        base = Path("/tmp")
    return base


def _initdb(bin_dir: Path, root: Path) -> None:
    command = [
        str(bin_dir / "initdb"),
        "--pgdata",
        str(root / "data"),
        "--username",
        "postgres",
        "--auth",
        "trust",
        "--encoding",
        "UTF8",
        "--locale",
        "C",
        "--no-sync",
        "--no-instructions",
    ]
    result = _run_as_owner(command, timeout=120)
    if result.returncode != 0 and "--no-instructions" in (result.stderr or ""):
        command.remove("--no-instructions")  # older than PostgreSQL 14
        result = _run_as_owner(command, timeout=120)
    if result.returncode != 0:
        pytest.fail(
            f"initdb failed (exit {result.returncode}) in {root}:\n{result.stdout}\n{result.stderr}", pytrace=False
        )
    # Trust on loopback and the socket, except one role that must authenticate.
    (root / "data" / "pg_hba.conf").write_text(
        "# written by tests/postgres_server.py\n"
        f"local all {PASSWORD_ROLE} scram-sha-256\n"
        f"host  all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
        "local all all trust\n"
        "host  all all 127.0.0.1/32 trust\n"
    )


def _launch(server: PostgresServer) -> None:
    settings = {
        "listen_addresses": server.host,
        "port": str(server.port),
        "unix_socket_directories": str(server.root / "socket"),
        "max_connections": "200",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_wal_size": "64MB",  # each CREATE DATABASE logs ~8 MB: keep the folder small
        "password_encryption": "scram-sha-256",
    }
    command = [str(server.bin_dir / "postgres"), "-D", str(server.data_dir)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    with open(server.log_file, "wb") as log:
        server.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_server_environment(),
            start_new_session=True,  # Ctrl-C stops pytest, whose teardown then stops the server
            **_owner_options(die_with_parent=True),
        )


def _wait_until_ready(server: PostgresServer, *, last_attempt: bool) -> bool:
    """True once the server takes connections; False if it lost the race for its port."""
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        exit_code = server.process.poll()
        if exit_code is not None:
            log = server.log_tail()
            if not last_attempt and re.search(r"could not bind|Address already in use", log):
                return False
            pytest.fail(f"PostgreSQL exited with code {exit_code} while starting; its log:\n{log}", pytrace=False)
        try:
            with closing(server.connect(connect_timeout=2)) as connection:
                server.version = connection.server_version
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"PostgreSQL did not accept connections on port {server.port} within "
                    f"{START_TIMEOUT_SECONDS} s; its log:\n{server.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.05)
    if server.version < 130000:
        pytest.fail(f"PostgreSQL {server.version} is too old for the tests: 13 or newer is needed", pytrace=False)
    return True


# ---- running as a user PostgreSQL accepts -----------------------------------


def _server_user() -> pwd.struct_passwd | None:
    """The account to run the server as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.fail(f"running as root, and no `postgres` user to run PostgreSQL as: {_INSTALL_HINT}", pytrace=False)


def _owner_options(*, die_with_parent: bool = False) -> dict[str, Any]:
    """subprocess options that drop root for the server user (like `runuser -u postgres --`)."""
    options: dict[str, Any] = {}
    owner = _server_user()
    if owner is not None:
        options.update(user=owner.pw_uid, group=owner.pw_gid, extra_groups=[], cwd="/")
    if die_with_parent and sys.platform == "linux":
        # If pytest itself is killed, the server goes too (runs after the uid change, so it sticks).
        options["preexec_fn"] = _die_with_parent
    return options


def _die_with_parent() -> None:
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGINT)


def _run_as_owner(command: list[str], *, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_server_environment(),
        **_owner_options(),
    )


def _server_environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    environment["LC_ALL"] = "C"  # a locale the machine may not have would stop initdb
    return environment


# ---- small helpers ----------------------------------------------------------


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _world_traversable(folder: Path) -> bool:
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in (folder, *folder.parents))


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name)) or (0,)


def _database_name(test_name: str) -> str:
    """Unique, valid, and still tells which test it belongs to (`t0042_test_resume_postgres`)."""
    slug = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")
    return f"t{next(_database_numbers):04d}_{slug}"[:63]
