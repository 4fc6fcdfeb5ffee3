"""Throughput of `psflow resume` over many waiting jobs, on SQLite and PostgreSQL.

    python bench/bench_resume.py                   # 500 jobs, --parallel 1 and 2, SQLite + PostgreSQL
    python bench/bench_resume.py --jobs 200 --no-postgres

Each job runs a 3-block script that stopped after its first block; `psflow
resume --parallel N` (the real command, in a subprocess) then finishes all of
them: one claim, one attempt row, two block commits and one final commit per
job. Reported: jobs per second of the whole command, start-up included.

PostgreSQL is a throwaway local cluster started by the test fixtures' code
(tests/support/postgres.py), which runs with fsync off: its figures show
psflow's own cost, not a durable server's disk. SQLite uses the default
synchronous=FULL.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr
from pathlib import Path

from backends import on_each_backend

from psflow import api

SCRIPT = """\
import sys
with block("one"):
    a = 1
if job.attempt == 1:
    stop("Waiting")
with block("two"):
    b = a + 1
with block("three"):
    c = a + b
"""


def prepare(folder: Path, url: str, jobs: int) -> None:
    """`jobs` Waiting jobs of the 3-block script in the database at `url`."""
    script = folder / "three.py"
    script.write_text(SCRIPT)
    with redirect_stderr(io.StringIO()):
        for _ in range(jobs):
            api.run(script, db=url)


def resume_seconds(folder: Path, url: str, parallel: int) -> float:
    psflow = Path(sys.executable).with_name("psflow")
    env = {**os.environ, "PSFLOW_DB": url}
    start = time.perf_counter()
    done = subprocess.run(
        [psflow, "resume", "--parallel", str(parallel)],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"psflow resume failed:\n{done.stderr[-2000:]}")
    return elapsed


def measure(name: str, make_url, jobs: int) -> None:
    for parallel in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            url = make_url(folder, parallel)
            prepare(folder, url, jobs)
            seconds = resume_seconds(folder, url, parallel)
            waiting = [job for job in api.jobs(db=url) if job["status"] != "Completed"]
            assert not waiting, f"{len(waiting)} jobs not completed"
            print(f"{name:10s} --parallel {parallel}: {jobs} jobs in {seconds:6.2f} s = {jobs / seconds:7.1f} jobs/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    print(f"psflow resume over {options.jobs} waiting jobs of a 3-block script ({os.cpu_count()} cores)")
    on_each_backend(lambda name, make_url: measure(name, make_url, options.jobs), postgres=not options.no_postgres)


if __name__ == "__main__":
    main()
