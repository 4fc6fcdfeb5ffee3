"""Helpers for the CLI tests: scripts written into the test's folder, jobs read back as JSON.

Every test here goes through the real `psflow` console script (the `psflow`
fixture of tests/conftest.py), once per backend.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest

PSFLOW = shutil.which("psflow") or str(Path(sys.executable).with_name("psflow"))
TABLES = ("psflow_job", "psflow_attempt", "psflow_block")


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write(name, source): a dedented script in the test's folder; its path."""

    def write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source).lstrip("\n"))
        return path

    return write


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
    """job_detail(id): `psflow job ID --json`, parsed."""

    def job_detail(job_id: str) -> dict:
        result = psflow("job", job_id, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return job_detail


@pytest.fixture
def psflow_with_job_id(psflow, tmp_path: Path):
    """Run `psflow` with PSFLOW_JOB_ID set in its environment.

    The shared `psflow` fixture removes PSFLOW_JOB_ID even when it is passed in
    `env`, so this runs the same command itself, with the same database.
    """

    def run(job_id: str, *args: str) -> subprocess.CompletedProcess:
        environment = {**os.environ, "PSFLOW_DB": psflow.db_url, "NO_COLOR": "1", "PSFLOW_JOB_ID": job_id}
        return subprocess.run(
            [PSFLOW, *args],
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
    """row_counts(): rows in each psflow table of this test's database (0 when it has none).

    Reads the database directly, so that a check that nothing was written does
    not itself create the schema or the SQLite file.
    """

    def row_counts() -> dict[str, int]:
        if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
            return dict.fromkeys(TABLES, 0)
        from playhouse.db_url import connect

        db = connect(db_url)
        try:
            present = set(db.get_tables())
            return {
                table: db.execute_sql(f"SELECT count(*) FROM {table}").fetchone()[0] if table in present else 0
                for table in TABLES
            }
        finally:
            db.close()

    return row_counts
