"""Claims per second through 2 `psflow worker`s, with and without a queue limit, on SQLite and PostgreSQL.

    python bench/bench_queues.py                  # 300 jobs per run, SQLite + PostgreSQL
    python bench/bench_queues.py --jobs 100 --no-postgres

Each run submits JOBS one-block jobs to queue `bench` (in this process, through the
service `psflow submit` uses), then starts 2 `psflow worker --once --queue bench`
(the real command) at the same moment and times them until both have exited. Runs:
no limit (a claim is one UPDATE), limit 2 (every claim locks the queue's row and
counts, but never waits for a slot: 2 workers of 1 process each) and limit 1 (the
workers take turns). Reported: jobs per second, start-up included; no assertions.

Then the claim alone, in this process: 2 threads, each with its own Store (connection),
claim JOBS Queued jobs one by one (`Store.claim_job`, Queued -> Running), with no limit
and with a limit as large as the number of jobs (every claim locks, counts, and wins).
Reported: claims per second of both threads together.

PostgreSQL is the test fixtures' throwaway cluster (tests/support/postgres.py, fsync
off): its figures show psflow's own cost, not a durable server's disk.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import redirect_stderr
from pathlib import Path

from backends import MakeUrl, on_each_backend

from psflow.domain import JobStatus, Runner
from psflow.service import running
from psflow.service.submit import submit
from psflow.store import open_store

SCRIPT = 'block "one":\n    done = True\n'
LIMITS = (None, 2, 1)


def prepare(folder: Path, url: str, jobs: int, limit: int | None) -> None:
    script = folder / "one.py"
    script.write_text(SCRIPT)
    request = running.exec_request(str(script))
    with redirect_stderr(io.StringIO()), open_store(url) as store:
        if limit is not None:
            store.set_queue_limit("bench", limit)
        for _ in range(jobs):
            submit(store, request, queue="bench")


def workers_seconds(folder: Path, url: str) -> float:
    psflow = Path(sys.executable).with_name("psflow")
    env = {**os.environ, "PSFLOW_DB": url}
    command = [str(psflow), "worker", "--once", "--queue", "bench"]
    start = time.perf_counter()
    workers = [
        subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    errors = [worker.communicate()[1] for worker in workers]
    elapsed = time.perf_counter() - start
    for worker, error in zip(workers, errors, strict=True):
        if worker.returncode != 0:
            raise SystemExit(f"psflow worker failed:\n{error[-2000:]}")
    return elapsed


def measure(name: str, make_url, jobs: int) -> None:
    for limit in LIMITS:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            url = make_url(folder, limit)
            prepare(folder, url, jobs, limit)
            seconds = workers_seconds(folder, url)
            with open_store(url) as store:
                left = len(store.list_jobs(["Queued", "Running"]))
            label = "no limit" if limit is None else f"limit {limit}"
            note = f" ({left} not run: a worker's sweep ended first)" if left else ""
            print(f"{name:10s} {label:8s}: {jobs} jobs in {seconds:6.2f} s = {jobs / seconds:7.1f} jobs/s{note}")


def claims_per_second(url: str, jobs: int) -> float:
    """2 threads with a store each claim the Queued jobs of queue `bench` until none is left."""
    with open_store(url) as store:
        queued = store.due_jobs([JobStatus.QUEUED], limit=jobs)
    halves = [queued[0::2], queued[1::2]]
    start = threading.Barrier(3)

    def claim(mine: list, number: int) -> None:
        runner = Runner(f"bench{number}", 1000 + number)
        with open_store(url) as store:
            store.get_job(mine[0].id)  # connected before the clock starts
            start.wait()
            for job in mine:
                store.claim_job(job, runner)

    threads = [threading.Thread(target=claim, args=(half, number)) for number, half in enumerate(halves)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return len(queued) / (time.perf_counter() - began)


def measure_claims(name: str, make_url, jobs: int) -> None:
    for limit in (None, jobs):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            url = make_url(folder, f"claims{limit}")
            prepare(folder, url, jobs, limit)
            rate = claims_per_second(url, jobs)
            label = "no limit" if limit is None else "limit"
            print(f"{name:10s} claims, {label:8s}: {rate:7.0f} claims/s (2 threads, a store each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    print(f"2 `psflow worker --once` over {options.jobs} submitted one-block jobs ({os.cpu_count()} cores)")

    def both(name: str, make_url: MakeUrl) -> None:
        measure(name, make_url, options.jobs)
        measure_claims(name, make_url, options.jobs)

    on_each_backend(both, postgres=not options.no_postgres)


if __name__ == "__main__":
    main()
