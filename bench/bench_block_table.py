"""What one block's commit costs in each layout of the block table, next to a raw commit: measured, not assumed.

Times, side by side in rounds (the disk is shared, its speed drifts), one committed statement:
  * raw:        sqlite3 INSERT+COMMIT of a small row into a rowid table (bench_blocks' yardstick),
  * psflow:     Store.save_block, the fenced INSERT … SELECT into psflow's block table (schema 7:
                WITHOUT ROWID, keyed by (job_id, id), the id given by the store: one B-tree),
  * schema 7:   the same statement into a copy of that table, through sqlite3 alone (what the
                store's own Python costs is psflow's time less this),
  * schema 6:   the same statement into the table as schema 6 had it (a rowid table and its
                unique (job_id, name, attempt) index: two B-trees, the index written out of order),
  * by name:    WITHOUT ROWID keyed by (job_id, name, attempt) (one B-tree, written out of order),
and the WAL frames (pages) each writes per commit. Every table starts with a WAL that has wrapped
once: a WAL still growing costs a commit about twice as much as one being reused, whatever the table.

    python bench/bench_block_table.py                       # synchronous=FULL
    python bench/bench_block_table.py --synchronous normal  # CPU and page writes show more
"""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from psflow.domain import Runner, RunStatus
from psflow.store import BlockRecord, open_store
from psflow.store.blocks import run_id

RUNNER = Runner("bench", 1, 60.0)
JOB = "bench-job"
_PAGE_COMMITS = 100  # commits whose WAL pages are counted
_WARM_COMMITS = 1200  # more than a WAL holds before SQLite checkpoints it (1,000 pages)
_FENCE = 'FROM "psflow_job" WHERE "id" = ? AND "attempts" = ? AND "status" = ?'


def _comparison_tables(connection: sqlite3.Connection) -> dict[str, str]:
    """The other layouts of psflow_block's columns, in the same file; {table: fenced INSERT} (block_v7's
    first parameter is the id)."""
    columns = [row[1:4] for row in connection.execute("PRAGMA table_info(psflow_block)") if row[1] != "id"]
    defined = ", ".join(f'"{name}" {kind}{" NOT NULL" if not_null else ""}' for name, kind, not_null in columns)
    foreign = "FOREIGN KEY (job_id) REFERENCES psflow_job (id) ON DELETE CASCADE"
    connection.execute(
        f"CREATE TABLE block_v7 (id INTEGER NOT NULL, {defined}, PRIMARY KEY (job_id, id), {foreign}) WITHOUT ROWID"
    )
    connection.execute(f"CREATE TABLE block_v6 (id INTEGER PRIMARY KEY, {defined}, {foreign})")
    connection.execute("CREATE UNIQUE INDEX block_v6_job_name_attempt ON block_v6 (job_id, name, attempt)")
    connection.execute(
        f"CREATE TABLE block_by_name ({defined}, PRIMARY KEY (job_id, name, attempt), {foreign}) WITHOUT ROWID"
    )
    names = ", ".join(f'"{name}"' for name, _, _ in columns)
    values = ", ".join("?" for _ in columns)
    inserts = {
        table: f"INSERT INTO {table} ({names}) SELECT {values} {_FENCE}" for table in ("block_v6", "block_by_name")
    }
    inserts["block_v7"] = f"INSERT INTO block_v7 (id, {names}) SELECT ?, {values} {_FENCE}"
    return inserts


def _frames(path: Path) -> int:
    """WAL frames written since the last call (read from a checkpoint that leaves the WAL's size alone)."""
    connection = sqlite3.connect(path)
    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    connection.close()
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--commits", type=int, default=200, help="commits per round and kind")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("PSFLOW_BENCH_DIR")) as tmp:
        path = Path(tmp) / "psflow.sqlite"
        store = open_store(f"sqlite:///{path}?synchronous={options.synchronous}")
        store.create_job(JOB, name="bench", script="b.py", source="", source_sha256="", args=[], runner=RUNNER)
        other = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", f"synchronous={options.synchronous}", "foreign_keys=1"):
            other.execute(f"PRAGMA {pragma}")
        inserts = _comparison_tables(other)
        raw = sqlite3.connect(Path(tmp) / "raw.sqlite", isolation_level=None)
        for pragma in ("journal_mode=WAL", f"synchronous={options.synchronous}"):
            raw.execute(f"PRAGMA {pragma}")
        raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, job TEXT, name TEXT, saved TEXT)")

        def record(name: str) -> BlockRecord:
            now = time.time()
            return BlockRecord(
                name=name,
                status=RunStatus.COMPLETED,
                saved='{"x":1}',
                mutated=None,
                exit_kind="normal",
                returned=None,
                output=None,
                error=None,
                started_at=now,
                ended_at=now,
                attempt=1,
                host="bench",
                pid=1,
                fingerprint="8d68eba64dd83ab4",
            )

        def run_raw(name: str) -> None:
            raw.execute("BEGIN")
            raw.execute("INSERT INTO t (job, name, saved) VALUES (?, ?, ?)", (JOB, name, '{"x":1}'))
            raw.execute("COMMIT")

        def run_psflow(name: str) -> None:
            store.save_block(JOB, record(name))

        def run_other(table: str) -> Callable[[str], None]:
            return lambda name: other.execute(inserts[table], (JOB, *record(name), JOB, 1, "Running"))

        ids = itertools.count(run_id(1, 1))

        def run_v7(name: str) -> None:
            other.execute(inserts["block_v7"], (next(ids), JOB, *record(name), JOB, 1, "Running"))

        kinds = {
            "raw": (run_raw, Path(tmp) / "raw.sqlite"),
            "psflow": (run_psflow, path),
            "schema 7": (run_v7, path),
            "schema 6": (run_other("block_v6"), path),
            "by name": (run_other("block_by_name"), path),
        }
        made = 0
        for run, _ in kinds.values():  # untimed: every WAL has wrapped once before anything is timed
            for _ in range(_WARM_COMMITS):
                made += 1
                run(f"b{made}")
        frames: dict[str, float] = {}
        for kind, (run, file) in kinds.items():  # untimed, and short: the WAL must not wrap meanwhile
            _frames(file)
            for _ in range(_PAGE_COMMITS):
                made += 1
                run(f"b{made}")
            frames[kind] = _frames(file) / _PAGE_COMMITS
        seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
        order = list(kinds)
        for round_number in range(options.rounds):
            turn = round_number % len(order)
            for kind in order[turn:] + order[:turn]:  # each kind goes first in turn
                run, _ = kinds[kind]
                start = time.perf_counter()
                for _ in range(options.commits):
                    made += 1
                    run(f"b{made}")
                seconds[kind].append((time.perf_counter() - start) / options.commits)
        raw_median = statistics.median(seconds["raw"])
        print(f"synchronous={options.synchronous}: one commit, medians of {options.rounds} rounds of {options.commits}")
        for kind, samples in seconds.items():
            median = statistics.median(samples)
            print(
                f"  {kind:9s} {median * 1e6:8.1f} us  ({median / raw_median:4.2f}x raw)"
                f"   {frames[kind]:4.2f} WAL pages per commit"
            )
        other.close()
        raw.close()
        store.close()


if __name__ == "__main__":
    main()
