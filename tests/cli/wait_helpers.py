"""Helpers for the wait_for/send and timer tests: the database read directly, and job ids."""

from __future__ import annotations

import json
from pathlib import Path

TABLES = ("psflow_job", "psflow_attempt", "psflow_block", "psflow_signal")


def snapshot(db_url: str) -> dict:
    """Every psflow row that matters, read without psflow: to show that a command changed nothing."""
    state: dict[str, list[tuple]] = {table: [] for table in TABLES}
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        return state
    from playhouse.db_url import connect

    db = connect(db_url)
    try:
        present = set(db.get_tables())
        for table in TABLES:
            if table in present:
                rows = db.execute_sql(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                state[table] = [tuple(row) for row in rows]
        return state
    finally:
        db.close()


def signal_rows(db_url: str) -> int:
    return len(snapshot(db_url)["psflow_signal"])


def detail(psflow, job_id: str) -> dict:
    result = psflow("job", job_id, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
