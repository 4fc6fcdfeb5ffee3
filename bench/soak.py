"""Soak test: workers that never miss a job, while someone keeps sending, retrying and restarting.

    python bench/soak.py                         # 5 minutes, 500 jobs, 2 workers on SQLite + 2 on PostgreSQL
    python bench/soak.py --minutes 1 --jobs 100 --no-postgres

SQLite and PostgreSQL are soaked at the same time, each by a driver process of its own. Each
backend gets `--jobs` jobs of one script that, by job, waits for an input, sleeps on a
durable timer, fails its first try (and is retried by the driver) or just runs — and stops
Waiting once more on its first attempt. The driver creates the jobs over the first 90% of
`--minutes`, so work keeps arriving, and the soak lasts at least `--minutes`. Two `psflow
worker` processes per backend take them; meanwhile the driver sends inputs, retries failed
jobs, and every few seconds (until `--minutes` are over) sends SIGTERM to one worker's whole
process group and starts a new one. At the end every job must be Completed, no block body
may have run twice (each body appends one line to a log), and nothing may be left Running.
It prints the numbers, and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import redirect_stderr
from pathlib import Path

from psflow import api
from psflow.errors import UsageError

SCRIPT = """\
import os, sys
from pathlib import Path

kind = sys.argv[1]
log = Path(sys.argv[2])

def effect(name):
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{job.id} {name}\\n".encode())
    os.close(fd)

with block("first"):
    effect("first")
if job.attempt == 1:
    stop("Waiting")
if kind == "input":
    value = wait_for("go")
if kind == "timer":
    sleep(2)
with block("second"):
    if kind == "fail" and not Path(f"{log}.{job.id}.fixed").exists():
        Path(f"{log}.{job.id}.fixed").touch()
        raise RuntimeError("first try fails")
    effect("second")
with block("third"):
    effect("third")
"""
KINDS = ("input", "timer", "fail", "plain")
GRACE_SECONDS = 120  # after --minutes: no more restarts, and this long for the last jobs to end


def start_worker(url: str, folder: Path) -> subprocess.Popen:
    psflow = Path(sys.executable).with_name("psflow")
    return subprocess.Popen(
        [psflow, "worker", "--poll", "0.5", "--concurrency", "2"],
        cwd=folder,
        env={**os.environ, "PSFLOW_DB": url, "CI": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def soak(name: str, url: str, folder: Path, jobs: int, minutes: float) -> bool:
    script, log = folder / "soak.py", folder / "effects.log"
    script.write_text(SCRIPT)
    workers = [start_worker(url, folder) for _ in range(2)]
    rng = random.Random(20261202)
    started, restarts, sent, retried, created = time.monotonic(), 0, 0, 0, 0
    deadline, next_restart = started + minutes * 60, started + 5
    try:
        while time.monotonic() < deadline + GRACE_SECONDS:
            share = (time.monotonic() - started) / (0.9 * minutes * 60)
            with redirect_stderr(io.StringIO()):
                while created < min(jobs, math.ceil(jobs * share)):
                    api.run(script, [KINDS[created % len(KINDS)], str(log)], job_id=f"soak-{created:04d}", db=url)
                    created += 1
            listed = api.jobs(db=url)
            waiting = [job["id"] for job in listed if job["waits_for"] == "go"]
            if waiting:
                sent += len(api.send(waiting, {"go": True}, db=url))
            for job in listed:
                if job["status"] == "Failed":
                    try:
                        api.retry(job["id"], db=url)
                        retried += 1
                    except UsageError:  # retried already, and a worker has it now: the list was a moment old
                        pass
            if time.monotonic() >= deadline and created == jobs and all(job["status"] == "Completed" for job in listed):
                break
            if time.monotonic() < deadline and time.monotonic() >= next_restart:
                victim = workers.pop(rng.randrange(len(workers)))
                os.killpg(victim.pid, signal.SIGTERM)
                victim.wait(timeout=120)
                workers.append(start_worker(url, folder))
                restarts += 1
                next_restart = time.monotonic() + rng.uniform(3, 6)
            time.sleep(0.5)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=120)
    elapsed = time.monotonic() - started
    listed = api.jobs(db=url)
    statuses = Counter(job["status"] for job in listed)
    effects = Counter(log.read_text().split("\n")[:-1]) if log.exists() else Counter()
    twice = sum(1 for count in effects.values() if count > 1)
    attempts = sum(job["attempts"] for job in listed)
    ok = statuses == Counter({"Completed": jobs}) and twice == 0 and len(effects) == 3 * jobs
    print(
        f"{name:10s} {jobs} jobs in {elapsed:6.1f} s: {dict(statuses)}; {attempts} attempts; {restarts} worker "
        f"restarts (SIGTERM to the group); {sent} inputs sent, {retried} retries; block bodies run: "
        f"{sum(effects.values())} for {len(effects)} blocks, {twice} more than once -> {'OK' if ok else 'FAILED'}"
    )
    return ok


def soak_sqlite(jobs: int, minutes: float) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        return soak("SQLite", f"sqlite:///{Path(tmp) / 'psflow.sqlite'}", Path(tmp), jobs, minutes)


def soak_postgres(jobs: int, minutes: float) -> bool:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.postgres import find_postgres_bin, start_server

    bin_dir = find_postgres_bin()
    if bin_dir is None:
        print("PostgreSQL: not measured (no server programs; apt-get install postgresql)")
        return True
    server = start_server(bin_dir)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return soak("PostgreSQL", server.create_database(f"soak_{time.time_ns()}"), Path(tmp), jobs, minutes)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)  # one driver process
    options = parser.parse_args()
    if options.only:
        soaked = soak_sqlite if options.only == "sqlite" else soak_postgres
        raise SystemExit(0 if soaked(options.jobs, options.minutes) else 1)
    backends = ["sqlite"] + ([] if options.no_postgres else ["postgres"])
    drivers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--only",
                backend,
                "--minutes",
                str(options.minutes),
                "--jobs",
                str(options.jobs),
            ]
        )
        for backend in backends
    ]
    codes = [driver.wait() for driver in drivers]
    raise SystemExit(0 if codes == [0] * len(codes) else 1)


if __name__ == "__main__":
    main()
