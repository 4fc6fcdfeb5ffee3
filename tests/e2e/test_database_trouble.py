"""Database trouble in the middle of an attempt, and on a plain command, through the real `psflow`.

Real trouble only: another process holding the SQLite file's write lock (BEGIN EXCLUSIVE) for
longer than psflow waits; a damaged file; a read-only one; a real PostgreSQL server restarted
while a block runs. psflow tries a call again for PSFLOW_DB_RETRY_SECONDS and says so once on
stderr; when the database stays unusable, the attempt ends with one line and exit 2, and the job
is taken again at once by the next `resume` on this host. No timing is asserted: each step
waits for what psflow says or writes.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from psflow.store.retry import ENV_RETRY
from support.cli import PSFLOW, assert_clean_error, environment
from support.scripts import counts, detail, next_line, start, wait_until

GATED = """
    import time
    from pathlib import Path

    def bump(name):
        counter = Path(f"count-{name}")
        counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))

    with block("First"):
        bump("First")
    with block("Gated"):
        bump("Gated")
        Path("at-gate").write_text("1")
        while not Path("gate").exists():
            time.sleep(0.02)
    with block("Last"):
        bump("Last")
"""

LOCKER = """
    import sqlite3, sys, time
    from pathlib import Path
    connection = sqlite3.connect(sys.argv[1], isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    while not Path("release").exists():
        time.sleep(0.02)
    connection.execute("ROLLBACK")
"""


@pytest.fixture
def sqlite_file(psflow) -> Path:
    return Path(psflow.db_url.removeprefix("sqlite:///"))


@pytest.fixture
def lock(tmp_path: Path, sqlite_file: Path):
    """lock(): another process holds the database's write lock until `tmp_path/release` exists."""
    script = tmp_path / "locker.py"
    script.write_text(textwrap.dedent(LOCKER))
    holders: list[subprocess.Popen] = []

    def hold() -> subprocess.Popen:
        holder = subprocess.Popen(
            [sys.executable, str(script), str(sqlite_file)], cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        holders.append(holder)
        assert next_line(holder.stdout, what="the lock") == "locked\n"
        return holder

    yield hold
    (tmp_path / "release").touch()
    for holder in holders:
        holder.wait(timeout=60)


def _at_the_gate(psflow, write, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    write("gated.py", GATED)
    created = psflow("init", "--connection-string", psflow.db_url)
    assert created.returncode == 0, created.stderr
    process = start(psflow, tmp_path, "exec", "gated.py", "--job", "gated", env=env)
    wait_until(lambda: process.poll() is not None or (tmp_path / "at-gate").exists(), what="the block's gate")
    assert process.poll() is None, process.communicate()
    return process


def test_a_lock_held_past_the_retries_ends_the_attempt_in_one_line_and_resume_takes_the_job_at_once(
    psflow, write, tmp_path, lock
) -> None:
    process = _at_the_gate(psflow, write, tmp_path, env={ENV_RETRY: "1"})
    lock()
    (tmp_path / "gate").touch()  # the block ends; its record cannot be written, nor the attempt's end
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert "psflow: error: cannot record block 'Gated': database" in stderr and "stayed locked for 1 s" in stderr
    assert stderr.count("psflow: error:") == 1, (
        stderr
    )  # the attempt's end, not recordable either, is not an error again
    assert "job gated: Running (its end could not be recorded either: `psflow resume --job gated`" in stderr, stderr
    (tmp_path / "release").touch()

    resumed = psflow("resume", "--job", "gated")  # its runner is gone: no lease to wait for

    assert resumed.returncode == 0, resumed.stderr
    assert detail(psflow, "gated")["status"] == "Completed"
    assert counts(tmp_path) == {"First": 1, "Gated": 2, "Last": 1}  # only the unrecorded block ran again


def test_a_lock_released_while_psflow_tries_again_lets_the_attempt_complete(psflow, write, tmp_path, lock) -> None:
    process = _at_the_gate(psflow, write, tmp_path)
    lock()
    (tmp_path / "gate").touch()

    told = next_line(process.stderr, what="psflow's note that it tries again")
    assert "is locked (database is locked); trying again for up to 30 s" in told
    (tmp_path / "release").touch()
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 0, stderr
    assert detail(psflow, "gated")["status"] == "Completed"
    assert counts(tmp_path) == {"First": 1, "Gated": 1, "Last": 1}


def test_a_block_that_could_not_be_recorded_leaves_the_job_interrupted_when_the_database_is_back(
    psflow, write, tmp_path, lock
) -> None:
    process = _at_the_gate(psflow, write, tmp_path, env={ENV_RETRY: "1"})
    lock()
    (tmp_path / "gate").touch()
    lines = []
    while "cannot record block" not in (lines[-1] if lines else ""):
        lines.append(next_line(process.stderr, what="psflow's error"))
    (tmp_path / "release").touch()  # back before psflow records how the attempt ended
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 2, stderr
    assert "Traceback" not in "".join(lines) + stderr
    job = detail(psflow, "gated")
    assert job["status"] == "Interrupted" and "stayed locked" in job["reason"]
    assert psflow("resume", "--status", "Interrupted").returncode == 0
    assert counts(tmp_path) == {"First": 1, "Gated": 2, "Last": 1}


def test_a_plain_command_on_a_locked_database_says_so_in_one_line(psflow, write, tmp_path, lock, row_counts) -> None:
    write("flow.py", 'with block("A"):\n    pass\n')
    created = psflow("init", "--connection-string", psflow.db_url)
    assert created.returncode == 0, created.stderr
    lock()

    result = psflow("exec", "flow.py", env={ENV_RETRY: "0.5"})

    assert_clean_error(result, "stayed locked for 0.5 s (database is locked)", ENV_RETRY)
    (tmp_path / "release").touch()
    assert row_counts()["psflow_job"] == 0


def test_a_retry_setting_that_is_not_seconds_is_refused(psflow, write) -> None:
    write("flow.py", 'with block("A"):\n    pass\n')

    assert_clean_error(psflow("exec", "flow.py", env={ENV_RETRY: "soon"}), f"{ENV_RETRY} must be a number of seconds")


@pytest.mark.parametrize("damage", ["not a database", "damaged pages"])
def test_a_damaged_database_gets_one_clear_line_from_every_command(psflow, write, sqlite_file, damage) -> None:
    write("flow.py", 'with block("A"):\n    pass\n')
    done = psflow("exec", "flow.py", "--job", "done")
    assert done.returncode == 0, done.stderr
    data = bytearray(sqlite_file.read_bytes()) if damage == "damaged pages" else bytearray(b"garbage " * 1024)
    if damage == "damaged pages":
        checkpoint = psflow("jobs")  # the WAL is folded into the file when the last connection closes
        assert checkpoint.returncode == 0
        data = bytearray(sqlite_file.read_bytes())
        for page in range(1, len(data) // 4096):  # every page but the first (the header) overwritten
            data[page * 4096 : (page + 1) * 4096] = b"\xff" * 4096
    sqlite_file.write_bytes(bytes(data))

    commands = (
        ["exec", "flow.py"],
        ["jobs"],
        ["job", "done"],
        ["resume"],
        ["logs", "done"],
        ["status"],
        ["cancel", "done"],
        ["send", "done", "approval=yes"],
        ["init", "--sqlite", str(sqlite_file)],
    )
    for command in commands:
        result = psflow(*command)
        assert_clean_error(result, "restore it from a backup")


def test_a_read_only_database_gets_one_clear_line(psflow, write, tmp_path, sqlite_file) -> None:
    write("flow.py", 'with block("A"):\n    pass\n')
    done = psflow("exec", "flow.py", "--job", "done")
    assert done.returncode == 0, done.stderr
    prefix = _read_only(tmp_path)

    for command in (["exec", "flow.py"], ["resume", "--job", "done"], ["cancel", "done"]):
        result = subprocess.run(
            [*prefix, PSFLOW, *command],
            cwd=tmp_path,
            env=environment(psflow.db_url),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert_clean_error(result, f"cannot write database {sqlite_file}")


def _read_only(folder: Path) -> tuple[str, ...]:
    """The prefix that runs a command with `folder` read-only: its permissions for a user; as root
    (whom permissions do not stop), a read-only bind mount of it in a private mount namespace."""
    if os.geteuid() != 0:
        for path in (folder, *folder.iterdir()):
            path.chmod(0o555 if path.is_dir() else 0o444)
        return ()
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "-m", "true"], capture_output=True) if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root without mount namespaces: cannot make the database read-only")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return (unshare, "-m", "sh", "-c", script, str(folder))


# ---- PostgreSQL restarted while a block runs -----------------------------------------------------


@pytest.mark.other_backends
def test_a_postgres_restart_during_an_attempt_is_waited_out(psflow, write, tmp_path, postgres_server) -> None:
    process = _at_the_gate(psflow, write, tmp_path)

    def while_down() -> None:
        (tmp_path / "gate").touch()  # the block ends while the server is down: its record waits
        told = next_line(process.stderr, what="psflow's note that it tries again")
        assert "is unreachable" in told and "trying again for up to 30 s" in told

    postgres_server.restart(stopped=while_down)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert detail(psflow, "gated")["status"] == "Completed"
    assert counts(tmp_path) == {"First": 1, "Gated": 1, "Last": 1}


@pytest.mark.other_backends
def test_a_postgres_server_down_past_the_retries_leaves_the_job_for_resume_at_once(
    psflow, write, tmp_path, postgres_server
) -> None:
    process = _at_the_gate(psflow, write, tmp_path, env={ENV_RETRY: "1"})

    def while_down() -> None:
        (tmp_path / "gate").touch()
        process.wait(timeout=120)

    postgres_server.restart(stopped=while_down)
    stderr = process.stderr.read()

    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr and "stayed unreachable for 1 s" in stderr
    resumed = psflow("resume", "--job", "gated")  # its runner is gone: no lease to wait for
    assert resumed.returncode == 0, resumed.stderr
    assert detail(psflow, "gated")["status"] == "Completed"
    assert counts(tmp_path) == {"First": 1, "Gated": 2, "Last": 1}


# ---- a database file that cannot grow ----------------------------------------------------------------

_FILE_LIMIT = 512 * 1024  # bytes: a file-size limit the WAL of BIG's job outgrows

BIG = """
    for i in range(200):
        with block(f"big{i}"):
            text = "x" * 20_000
"""


def test_a_database_that_cannot_grow_is_named_as_the_cause_by_every_command(psflow, write, tmp_path) -> None:
    """A file-size limit (as a full disk does) fails SQLite's write, and SQLite rolls the transaction
    back itself: psflow's own ROLLBACK then failed too, and its "cannot rollback - no transaction is
    active" was all every command said. The job is taken again once the database can grow."""
    write("big.py", BIG)

    def limited(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PSFLOW, *command],
            cwd=tmp_path,
            env=environment(psflow.db_url, {ENV_RETRY: "1"}),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_LIMIT, _FILE_LIMIT)),
        )

    note = "y" * 100_000  # more than is left below the limit
    for command in (["exec", "big.py", "--job", "big"], ["exec", "big.py"], ["send", "big", f"note={note}"]):
        result = limited(*command)
        assert result.returncode == 2, (command, result.stderr)
        assert "rollback" not in result.stderr and "Traceback" not in result.stderr, (command, result.stderr)
        assert re.search(r"psflow: error: .*(database or disk is full|disk I/O error)", result.stderr), result.stderr

    resumed = psflow("resume", "--job", "big")

    assert resumed.returncode == 0, resumed.stderr
    assert detail(psflow, "big")["status"] == "Completed"
