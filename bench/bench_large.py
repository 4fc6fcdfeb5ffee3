"""Large jobs and large databases: time and memory of the real `psflow` commands on them.

    python bench/bench_large.py                      # the sizes of issue 11 §6 (a few minutes)
    python bench/bench_large.py --blocks 20000 --jobs 20000 --prune 50000 --output-mb 100 --value-mb 50
    python bench/bench_large.py --only logs,prune

The databases are written straight through the store's tables (bulk inserts), not by
running scripts: a 100,000-block job takes seconds to make. Then each command runs as a
subprocess, as a user would run it, and the script prints its wall time and peak memory
(max RSS of the command, measured by /usr/bin/time):

* `psflow job` and `psflow rerun --from` on a job of `--blocks` blocks;
* `psflow job` on a job holding one `--value-mb` saved value;
* `psflow logs` (to /dev/null) on a job with `--output-mb` of captured output;
* `psflow jobs` on a terminal (a pty) and piped, with `--jobs` jobs in the database;
* `psflow prune` of `--prune` old jobs, while a probe writes one row every few
  milliseconds from another connection: the longest the probe had to wait is the
  longest prune held the write lock (and whether a write failed).

Numbers only, no assertions: the machine decides them.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from peewee import chunked

from psflow.store import open_store
from psflow.store.blocks import run_id

PSFLOW = str(Path(sys.executable).with_name("psflow"))
DAY = 86400.0


def ready_store(url: str):
    """A store whose schema exists (the store creates it on first use)."""
    store = open_store(url)
    store.status_counts()
    return store


def make_jobs(store, count: int, *, blocks_each: int = 0, age: float = 0.0, prefix: str = "job") -> list[str]:
    """`count` Completed jobs of one attempt with `blocks_each` small blocks each, last updated `age` ago."""
    tables = store.tables
    now = time.time() - age
    ids = [f"{prefix}{index:08d}" for index in range(count)]
    with store.db.atomic():
        for chunk in chunked(ids, 500):
            tables.job.insert_many([_job_row(job_id, now) for job_id in chunk]).execute()
            tables.attempt.insert_many([_attempt_row(job_id, now) for job_id in chunk]).execute()
            if blocks_each:
                rows = [_block_row(job_id, n, f"b{n}", now + n * 1e-3) for job_id in chunk for n in range(blocks_each)]
                for part in chunked(rows, 500):
                    tables.block.insert_many(part).execute()
    return ids


def make_big_job(store, job_id: str, *, blocks: int, value: str | None = None, output_each: str | None = None) -> None:
    """One Completed job of `blocks` blocks; each block's output `output_each`, the first one's saved value `value`."""
    tables = store.tables
    now = time.time()
    with store.db.atomic():
        tables.job.insert(_job_row(job_id, now)).execute()
        tables.attempt.insert(_attempt_row(job_id, now)).execute()
    for start in range(0, blocks, 1000):
        with store.db.atomic():
            rows = [
                _block_row(job_id, n, f"block {n}", now + n * 1e-3, output=output_each, saved=value if n == 0 else None)
                for n in range(start, min(blocks, start + 1000))
            ]
            for part in chunked(rows, 100 if output_each or value else 500):
                tables.block.insert_many(part).execute()


def _job_row(job_id: str, now: float) -> dict:
    return {
        "id": job_id,
        "name": "bench",
        "script": "/bench/flow.py",
        "source": "",
        "source_sha256": "0" * 64,
        "args": "[]",
        "status": "Completed",
        "reason": None,
        "created_at": now,
        "updated_at": now,
        "attempts": 1,
        "due_at": None,
    }


def _attempt_row(job_id: str, now: float) -> dict:
    return {
        "job": job_id,
        "number": 1,
        "host": "bench",
        "pid": 1,
        "source_sha256": "0" * 64,
        "started_at": now,
        "ended_at": now + 1,
        "outcome": "Completed",
    }


def _block_row(
    job_id: str, number: int, name: str, started: float, *, output: str | None = None, saved: str | None = None
) -> dict:
    """The job's `number`-th block run (from 0), in its first attempt."""
    return {
        "job": job_id,
        "id": run_id(1, number + 1),
        "name": name,
        "status": "Completed",
        "saved": saved,
        "mutated": None,
        "exit_kind": "normal",
        "returned": None,
        "output": output,
        "error": None,
        "started_at": started,
        "ended_at": started + 1e-4,
        "attempt": 1,
        "host": "bench",
        "pid": 1,
        "tries": 1,
        "fingerprint": None,
        "lead": None,
    }


def run(url: str, *args: str, terminal: bool = False) -> tuple[float, float, int]:
    """`psflow ARGS` with its output thrown away (or read from a pty): (seconds, max RSS in MB, exit code).

    Under /usr/bin/time: the maximum RSS of a child forked from this (big) process would count its pages.
    """
    env = {**os.environ, "PSFLOW_DB": url, "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    with tempfile.NamedTemporaryFile(suffix=".rss") as measured:
        command = ["/usr/bin/time", "-q", "-f", "%M", "-o", measured.name, PSFLOW, *args]
        master, slave = pty.openpty() if terminal else (None, subprocess.DEVNULL)
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        if master is not None:
            os.close(slave)
            _drain(master)
        code = process.wait()
        seconds = time.perf_counter() - start
        kilobytes = measured.read().decode().split()[-1]
    return seconds, int(kilobytes) / 1024, code


def _drain(master: int) -> None:
    """Read a pty until every writer closed it, as a person's terminal would."""
    while True:
        select.select([master], [], [], 60)
        try:
            if not os.read(master, 1 << 16):
                break
        except OSError:
            break
    os.close(master)


def report(what: str, result: tuple[float, float, int]) -> None:
    seconds, rss, code = result
    print(f"{what:<58} {seconds:8.2f} s {rss:8.0f} MB RSS  exit {code}", flush=True)


class WriteProbe:
    """Writes one small row every few milliseconds on its own connection while something else runs;
    the longest a write had to wait is the longest anyone else held the write lock."""

    def __init__(self, url: str) -> None:
        self.store = ready_store(url)
        self.longest = 0.0
        self.failures = 0
        self.writes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> WriteProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.store.close()

    def _loop(self) -> None:
        tables = self.store.tables
        # Its own commits never checkpoint the WAL (prune's do): what it waits for is the write lock,
        # not a checkpoint that the WAL prune wrote happened to leave to it.
        self.store.db.execute_sql("PRAGMA wal_autocheckpoint=0")
        now = time.time()
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                with self.store.db.atomic():
                    tables.job.insert(_job_row(f"probe-{id(self)}-{self.writes}", now)).execute()
            except Exception:
                self.failures += 1
            self.longest = max(self.longest, time.perf_counter() - start)
            self.writes += 1
            time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=100_000, help="blocks of the big job")
    parser.add_argument("--value-mb", type=int, default=200, help="size of the one big saved value")
    parser.add_argument("--output-mb", type=int, default=500, help="captured output of the job `logs` prints")
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the database `psflow jobs` lists")
    parser.add_argument("--prune", type=int, default=400_000, help="old jobs `psflow prune` deletes")
    parser.add_argument("--only", default="job,value,logs,jobs,prune", help="which of them to run (comma-separated)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    report("start-up alone: psflow --version (for scale)", run("sqlite://", "--version"))
    with tempfile.TemporaryDirectory() as temporary:
        for name in ("job", "value", "logs", "jobs", "prune"):
            if name in only:
                SCENARIOS[name](f"sqlite:///{Path(temporary) / name}.sqlite", args)


def bench_job(url: str, args: argparse.Namespace) -> None:
    with ready_store(url) as store:
        make_big_job(store, "big", blocks=args.blocks)
    report(f"job on a terminal: {args.blocks:,} blocks", run(url, "job", "big", terminal=True))
    report(f"job piped: {args.blocks:,} blocks", run(url, "job", "big"))
    report(f"job --json: {args.blocks:,} blocks", run(url, "job", "big", "--json"))
    report(f"rerun --from the first of {args.blocks:,} blocks", run(url, "rerun", "big", "--from", "block 0"))


def bench_value(url: str, args: argparse.Namespace) -> None:
    with ready_store(url) as store:
        make_big_job(store, "value", blocks=10, value='"' + "v" * (args.value_mb << 20) + '"')
    report(f"job: one {args.value_mb} MB saved value", run(url, "job", "value"))


def bench_logs(url: str, args: argparse.Namespace) -> None:
    with ready_store(url) as store:
        line = "x" * 99 + "\n"
        make_big_job(store, "output", blocks=100, output_each=line * ((args.output_mb << 20) // 10_000))
    report(f"logs: {args.output_mb} MB of output in 100 blocks", run(url, "logs", "output"))
    report(f"logs --json: {args.output_mb} MB of output in 100 blocks", run(url, "logs", "output", "--json"))


def bench_jobs(url: str, args: argparse.Namespace) -> None:
    with ready_store(url) as store:
        make_jobs(store, args.jobs)
    report(f"jobs on a terminal: {args.jobs:,} jobs", run(url, "jobs", terminal=True))
    report(f"jobs --limit 50 piped: {args.jobs:,} jobs", run(url, "jobs", "--limit", "50"))


def bench_prune(url: str, args: argparse.Namespace) -> None:
    with ready_store(url) as store:
        make_jobs(store, args.prune, blocks_each=3, age=40 * DAY, prefix="old")
        make_jobs(store, 1000, blocks_each=3, prefix="new")
    with WriteProbe(url) as idle:
        time.sleep(3)
    with WriteProbe(url) as probe:
        result = run(url, "prune", "--older-than", "30d")
    report(f"prune: {args.prune:,} old jobs (3 blocks each)", result)
    for what, seen in (("during prune", probe), ("with nothing else running", idle)):
        print(
            f"{'  longest a concurrent write took, ' + what:<58} {seen.longest * 1000:8.0f} ms"
            f"  ({seen.writes} writes, {seen.failures} failed)"
        )


SCENARIOS = {"job": bench_job, "value": bench_value, "logs": bench_logs, "jobs": bench_jobs, "prune": bench_prune}


if __name__ == "__main__":
    main()
