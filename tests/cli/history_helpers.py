"""Helpers for the CLI tests of a job's history (logs, rerun, lifecycle, wait/send, timers, retries): the
database read (and aged) directly, side-effect counters, and a job kept Running behind a gate file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

PSFLOW = shutil.which("psflow") or str(Path(sys.executable).with_name("psflow"))

TABLES = ("psflow_job", "psflow_attempt", "psflow_block", "psflow_signal", "psflow_workflow")

# Each block counts its runs in a file named after it, and prints something of its own.
COUNTED = """
    from pathlib import Path

    def bump(name):
        counter = Path(f"count-{name}")
        counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
        return int(counter.read_text())
"""

# Held Running until the test creates the file `gate`.
GATED = """
    import time
    from pathlib import Path

    with block("started"):
        print("started")
    with block("gated"):
        while not Path("gate").exists():
            time.sleep(0.05)
        print("through the gate")
    with block("last"):
        print("last")
"""


def _connect(db_url: str):
    from playhouse.db_url import connect

    return connect(db_url)


def snapshot(db_url: str) -> dict[str, list[tuple]]:
    """Every row of every psflow table, read without psflow: to show that a command changed nothing."""
    state: dict[str, list[tuple]] = {table: [] for table in TABLES}
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        return state
    db = _connect(db_url)
    try:
        present = set(db.get_tables())
        for table in TABLES:
            if table in present:
                state[table] = [tuple(row) for row in db.execute_sql(f"SELECT * FROM {table} ORDER BY 1").fetchall()]
        return state
    finally:
        db.close()


def rows_of(db_url: str, job_id: str) -> dict[str, int]:
    """How many rows job `job_id` has in each table."""
    db = _connect(db_url)
    try:
        counts = {"psflow_job": db.execute_sql(f"SELECT count(*) FROM psflow_job WHERE id = {db.param}", (job_id,))}
        for table in ("psflow_attempt", "psflow_block", "psflow_signal"):
            counts[table] = db.execute_sql(f"SELECT count(*) FROM {table} WHERE job_id = {db.param}", (job_id,))
        return {table: cursor.fetchone()[0] for table, cursor in counts.items()}
    finally:
        db.close()


def age(db_url: str, job_ids: list[str], days: float) -> None:
    """Make jobs look last updated `days` earlier (prune looks at updated_at)."""
    db = _connect(db_url)
    try:
        marks = ", ".join(db.param for _ in job_ids)
        db.execute_sql(
            f"UPDATE psflow_job SET updated_at = updated_at - {days * 86400} WHERE id IN ({marks})", tuple(job_ids)
        )
    finally:
        db.close()


def block_rows(db_url: str, job_id: str, name: str) -> int:
    """Runs of block `name` recorded for the job (0 while psflow has not even made its tables)."""
    from peewee import DatabaseError

    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        return 0
    db = _connect(db_url)
    try:
        sql = f"SELECT count(*) FROM psflow_block WHERE job_id = {db.param} AND name = {db.param}"
        return db.execute_sql(sql, (job_id, name)).fetchone()[0]
    except DatabaseError:
        return 0
    finally:
        db.close()


def signal_rows(db_url: str) -> int:
    """Inputs sent to any job (`psflow send`), as stored."""
    return len(snapshot(db_url)["psflow_signal"])


def counts(folder: Path) -> dict[str, int]:
    """{block: how many times its body ran}, from the COUNTED counter files."""
    return {path.name[len("count-"):]: int(path.read_text()) for path in sorted(folder.glob("count-*"))}


def detail(psflow, job_id: str) -> dict:
    result = psflow("job", job_id, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start(psflow, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`psflow ARGS` in the background, on this test's database."""
    environment = {key: value for key, value in os.environ.items() if key != "PSFLOW_JOB_ID"}
    environment.update({"PSFLOW_DB": psflow.db_url, "NO_COLOR": "1", **(env or {})})
    return subprocess.Popen(
        [PSFLOW, *args], cwd=tmp_path, env=environment, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def start_gated(psflow, write, tmp_path: Path, job_id: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Job `job_id` Running (block "started" recorded), held in block "gated" until `tmp_path/gate` exists."""
    write("gated.py", GATED)
    process = start(psflow, tmp_path, "exec", "gated.py", "--job", job_id, env=env)
    wait_until(lambda: process.poll() is not None or block_rows(psflow.db_url, job_id, "started") == 1,
               what="the gated job to start")
    assert process.poll() is None, process.communicate()
    return process
