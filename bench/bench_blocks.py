"""Per-block cost of psflow on SQLite, next to the cost of one raw SQLite commit.

Prints, for scripts of N trivial blocks (N = 10, 100, 1000):
  * first attempt: psflow's cost per block (each block: one committed transaction),
  * replay: cost per block when every block is already completed,
and, once: the raw cost of one sqlite3 INSERT+COMMIT in WAL mode with the same
`synchronous` setting, and the whole-process time of `psflow exec` for a 3-block
script with a warm code cache.

    python bench/bench_blocks.py                  # synchronous=FULL and NORMAL
    python bench/bench_blocks.py --repeat 9       # more repetitions, steadier medians

Per-block figures are (time(attempt of N blocks) - time(attempt of 0 blocks)) / N
for the same script run through psflow's runtime, so the fixed cost of an
attempt (loading its records, recording its end) is not counted; medians over
--repeat runs, each on a fresh job.
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr
from pathlib import Path

from psflow.domain import Runner
from psflow.loading import load_script
from psflow.runtime import run_attempt
from psflow.service.running import new_job_id
from psflow.store import open_store

SCRIPT = """\
import sys
for i in range(int(sys.argv[1])):
    with block(f"b{i}"):
        x = i
if sys.argv[2] == "stop":
    stop("Waiting")
"""

BENCH = Runner("bench", 1, 60.0)

THREE_BLOCKS = """\
block "one":
    a = 1
block "two":
    b = a + 1
block "three":
    print(a + b)
"""


def raw_commit_seconds(folder: Path, synchronous: str, count: int = 1000, repeat: int = 5) -> float:
    """One INSERT+COMMIT with the sqlite3 module, WAL, given synchronous.

    Measured like psflow's figures: total time of `count` commits / count (so WAL
    checkpoints are paid for on both sides), median over `repeat` runs.
    """
    connection = sqlite3.connect(folder / f"raw-{synchronous}.sqlite", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, job TEXT, name TEXT, saved TEXT)")
    samples = []
    for run in range(repeat):
        start = time.perf_counter()
        for i in range(count):
            connection.execute("BEGIN")
            connection.execute("INSERT INTO t (job, name, saved) VALUES (?, ?, ?)", ("job", f"{run}-{i}", '{"x":1}'))
            connection.execute("COMMIT")
        samples.append((time.perf_counter() - start) / count)
    connection.close()
    return statistics.median(samples)


def _attempt_seconds(store, code, job_id: str, number: int, blocks: int) -> float:
    """Wall time of one attempt of the script, run through psflow's runtime."""
    start = time.perf_counter()
    with redirect_stderr(io.StringIO()):
        run_attempt(store, job_id, number, code, script="blocks.py", argv=[str(blocks), "stop"], runner=BENCH)
    return time.perf_counter() - start


def per_block_seconds(script: Path, url: str, blocks: int, repeat: int) -> tuple[float, float]:
    """(first attempt, replay) seconds per block, medians over `repeat` fresh jobs."""
    store = open_store(url)
    code = load_script(script).code
    first, replay = [], []
    for _ in range(repeat):
        timings = {}
        for n in (0, blocks):
            job_id = new_job_id()
            store.create_job(
                job_id, name="bench", script=str(script), source="", source_sha256="", args=[],
                runner=BENCH,
            )
            timings[n] = (
                _attempt_seconds(store, code, job_id, 1, n),
                _attempt_seconds(store, code, job_id, 2, n),
            )
        first.append((timings[blocks][0] - timings[0][0]) / blocks)
        replay.append((timings[blocks][1] - timings[0][1]) / blocks)
    store.close()
    return statistics.median(first), statistics.median(replay)


def exec_process_seconds(folder: Path, url: str, repeat: int) -> float:
    """Median wall time of `psflow exec` on a 3-block script, code cache warm."""
    script = folder / "three.py"
    script.write_text(THREE_BLOCKS)
    psflow = Path(sys.executable).with_name("psflow")
    env = {**os.environ, "PSFLOW_DB": url}
    subprocess.run([psflow, "exec", script], env=env, capture_output=True, check=True)  # warm the cache
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([psflow, "exec", script], env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("PSFLOW_BENCH_DIR")) as tmp:
        folder = Path(tmp)
        script = folder / "blocks.py"
        script.write_text(SCRIPT)
        print(f"psflow per-block cost on SQLite (WAL), medians of {options.repeat} runs; folder {folder}")
        for synchronous in ("FULL", "NORMAL"):
            url = f"sqlite:///{folder / f'psflow-{synchronous}.sqlite'}?synchronous={synchronous.lower()}"
            raw = raw_commit_seconds(folder, synchronous)
            print(f"\nsynchronous={synchronous}: raw sqlite3 INSERT+COMMIT {raw * 1e6:8.1f} us")
            for n in options.sizes:
                first, replay = per_block_seconds(script, url, n, options.repeat)
                print(
                    f"  N={n:5d}  first attempt {first * 1e6:8.1f} us/block ({first / raw:4.2f}x raw)"
                    f"   replay {replay * 1e6:6.1f} us/block"
                )
        url = f"sqlite:///{folder / 'exec.sqlite'}"
        print(f"\npsflow exec, 3-block script, warm cache: {exec_process_seconds(folder, url, options.repeat):.3f} s")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(f"(python -c pass: {time.perf_counter() - start:.3f} s)")


if __name__ == "__main__":
    main()
