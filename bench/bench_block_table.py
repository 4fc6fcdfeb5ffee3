"""Would a `WITHOUT ROWID` block table make a block's commit cheaper? Measured, not assumed.

Times, side by side in rounds (the disk is shared, its speed drifts), one committed statement:
  * raw:       sqlite3 INSERT+COMMIT into a one-index table (bench_blocks' yardstick),
  * psflow:    Store.save_block, the fenced INSERT … SELECT into psflow's block table
               (a rowid table plus its unique (job_id, name, attempt) index: two B-trees),
  * no rowid:  the same statement into a copy of that table keyed by (job_id, name, attempt),
               WITHOUT ROWID (one B-tree),
and the WAL frames (pages) each writes per commit. Timed rounds include WAL checkpoints.

    python bench/bench_block_table.py                       # synchronous=FULL
    python bench/bench_block_table.py --synchronous normal  # CPU and page writes show more
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from psflow.domain import Runner, RunStatus
from psflow.store import BlockRecord, open_store

RUNNER = Runner("bench", 1, 60.0)
JOB = "bench-job"
_PAGE_COMMITS = 100  # commits whose WAL pages are counted


def _no_rowid_table(connection: sqlite3.Connection) -> None:
    """psflow_block_k: psflow_block's columns without `id`, keyed by (job_id, name, attempt)."""
    columns = [row[1:4] for row in connection.execute("PRAGMA table_info(psflow_block)") if row[1] != "id"]
    defined = ", ".join(f'"{name}" {kind}{" NOT NULL" if not_null else ""}' for name, kind, not_null in columns)
    connection.execute(
        f"CREATE TABLE psflow_block_k ({defined}, PRIMARY KEY (job_id, name, attempt), FOREIGN KEY (job_id) "
        "REFERENCES psflow_job (id) ON DELETE CASCADE) WITHOUT ROWID"
    )


def _frames(path: Path) -> int:
    """WAL frames written since the last call (the WAL is checkpointed and emptied after reading)."""
    connection = sqlite3.connect(path)
    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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
        keyed = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", f"synchronous={options.synchronous}", "foreign_keys=1"):
            keyed.execute(f"PRAGMA {pragma}")
        _no_rowid_table(keyed)
        keyed_sql = store._save_block_sql.replace('"psflow_block"', '"psflow_block_k"', 1)
        raw = sqlite3.connect(Path(tmp) / "raw.sqlite", isolation_level=None)
        for pragma in ("journal_mode=WAL", f"synchronous={options.synchronous}"):
            raw.execute(f"PRAGMA {pragma}")
        raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, job TEXT, name TEXT, saved TEXT)")
        made = 0

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

        def run_keyed(name: str) -> None:
            keyed.execute(keyed_sql, (JOB, *record(name), JOB, 1, "Running"))

        kinds = {
            "raw": (run_raw, Path(tmp) / "raw.sqlite"),
            "psflow": (run_psflow, path),
            "no rowid": (run_keyed, path),
        }
        seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
        frames: dict[str, float] = {}
        for kind, (run, file) in kinds.items():  # untimed, and short: the WAL must not wrap meanwhile
            _frames(file)
            for _ in range(_PAGE_COMMITS):
                made += 1
                run(f"b{made}")
            frames[kind] = _frames(file) / _PAGE_COMMITS
        order = list(kinds)
        for round_number in range(options.rounds):
            for kind in order[round_number % 3 :] + order[: round_number % 3]:  # each kind goes first in turn
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
        keyed.close()
        raw.close()
        store.close()


if __name__ == "__main__":
    main()
