"""Per-block cost of psflow on SQLite, next to the cost of one raw SQLite commit.

Prints, for scripts of N trivial blocks (N = 10, 100, 1000):
  * first attempt: psflow's cost per block (each block: one committed, fenced INSERT), and the
    CPU time of the thread that ran it, in user space and in the kernel (a commit's writes and
    fsync), per block,
  * the first attempt's cost per block with the write left out (Store.save_block replaced, on
    the bench's store object, by one that writes nothing): what psflow's own Python costs,
  * its floor: the first attempt's cost per block, and its multiple of the raw commit, with the
    block's own work left out (the output drains, the environment and working-folder check, the
    watch on outer names, the encoding of its values): what entering and leaving a block and its
    fenced write cost at least,
  * replay: cost per block when every block is already completed,
  * the raw cost of one sqlite3 INSERT+COMMIT in WAL mode with the same `synchronous`
    setting, measured just before and just after each psflow first attempt, and
    psflow's first-attempt cost as a multiple of it,
  * the time of an attempt of no blocks: what an attempt costs besides its blocks;
and, once, the whole-process time of `psflow exec` for a 3-block script with a warm
code cache.

    python bench/bench_blocks.py                  # synchronous=FULL and NORMAL
    python bench/bench_blocks.py --repeat 9       # more repetitions, steadier medians

Per-block figures are (time(attempt of N blocks) - time(attempt of 0 blocks)) / N
for the same script run through psflow's runtime, so the fixed cost of an
attempt (loading its records, recording its end) is not counted; medians over
--repeat runs, each on a fresh job. On a shared machine a commit's cost drifts
with the other processes' disk traffic, so the multiple is taken run by run
(raw commits, then psflow, side by side) and its median printed: it compares
like with like. With N=10 the attempts' own commits jitter more than ten blocks
cost: read the larger N.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager, redirect_stderr
from functools import partial
from pathlib import Path
from typing import NamedTuple
from unittest.mock import patch

from psflow.domain import Runner
from psflow.loading import load_script
from psflow.runtime import run_attempt
from psflow.runtime.capture import OutputCapture
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


class Costs(NamedTuple):
    """Wall seconds, and the CPU seconds of the thread that spent them, in user space and in the
    kernel (where a commit's writes and fsync are paid)."""

    wall: float
    user: float
    system: float

    @classmethod
    def since(cls, usage: resource.struct_rusage, start: float) -> Costs:
        now = resource.getrusage(resource.RUSAGE_THREAD)
        return cls(time.perf_counter() - start, now.ru_utime - usage.ru_utime, now.ru_stime - usage.ru_stime)

    def __sub__(self, other: Costs) -> Costs:
        return Costs(*(mine - theirs for mine, theirs in zip(self, other, strict=True)))

    def per(self, count: int) -> Costs:
        return Costs(*(value / count for value in self))


def _started() -> tuple[resource.struct_rusage, float]:
    return resource.getrusage(resource.RUSAGE_THREAD), time.perf_counter()


class RawCommits:
    """INSERT+COMMIT with the sqlite3 module alone, WAL, the given synchronous: the yardstick."""

    def __init__(self, folder: Path, synchronous: str) -> None:
        self.connection = sqlite3.connect(folder / f"raw-{synchronous}.sqlite", isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute(f"PRAGMA synchronous={synchronous}")
        self.connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, job TEXT, name TEXT, saved TEXT)")
        self.made = 0

    def costs(self, count: int) -> Costs:
        """Costs of `count` commits / count (WAL checkpoints are paid for, as psflow's blocks pay them)."""
        started = _started()
        for _ in range(count):
            self.made += 1
            self.connection.execute("BEGIN")
            self.connection.execute(
                "INSERT INTO t (job, name, saved) VALUES (?, ?, ?)", ("job", f"b{self.made}", '{"x":1}')
            )
            self.connection.execute("COMMIT")
        return Costs.since(*started).per(count)

    def close(self) -> None:
        self.connection.close()


def _attempt_costs(store, code, job_id: str, number: int, blocks: int) -> Costs:
    """Attempt `number` of the script, run through psflow's runtime. The job is claimed first, as
    psflow does, so every fenced write of the attempt is its owner's."""
    if number > 1 and not store.claim_job(store.get_job(job_id), BENCH, runner_gone=True):
        raise SystemExit(f"bench: could not claim job {job_id} for attempt {number}")
    started = _started()
    with redirect_stderr(io.StringIO()):
        result = run_attempt(store, job_id, number, code, script="blocks.py", argv=[str(blocks), "stop"], runner=BENCH)
    costs = Costs.since(*started)
    if result.status != "Waiting" or result.ran + result.replayed != blocks:
        raise SystemExit(f"bench: attempt {number} of job {job_id} ended {result.status}, not as measured")
    return costs


def _new_job(store, script: Path) -> str:
    job_id = new_job_id()
    store.create_job(job_id, name="bench", script=str(script), source="", source_sha256="", args=[], runner=BENCH)
    return job_id


def _unwritten(store, code, script: Path, blocks: int) -> float:
    """Seconds per block of a first attempt whose block rows are not written (Store.save_block left
    out, on this store object only): what psflow's own Python costs a block."""
    store.save_block = lambda job_id, record: True
    try:
        costs = [_attempt_costs(store, code, _new_job(store, script), 1, n).wall for n in (0, blocks)]
    finally:
        del store.save_block
    return (costs[1] - costs[0]) / blocks


@contextmanager
def _block_work_left_out():
    """The first attempt's blocks without the work a block does besides entering, leaving and its
    write: no output drains, no environment or folder check, no watch on outer names, values not
    encoded (plain functions patched in, so the stand-ins cost next to nothing)."""
    stand_ins = {
        "psflow.runtime.attempt.process_state.snapshot": lambda: None,
        "psflow.runtime.attempt.process_state.changes_since": lambda before: {},
        "psflow.runtime.attempt.watch": lambda *watched: None,
        "psflow.runtime.attempt.encode_values": lambda *values: None,
    }
    with ExitStack() as patches:
        patches.enter_context(patch.object(OutputCapture, "drain", lambda capture: None))
        for target, stand_in in stand_ins.items():
            patches.enter_context(patch(target, stand_in))
        yield


def _beside_raw(raw: RawCommits, blocks: int, measure: Callable[[], Costs]) -> tuple[Costs, Costs]:
    """`measure()`, and the costs of a raw commit measured just before and just after it: the disk is
    shared and its speed drifts, so a multiple compares like with like."""
    before = raw.costs(max(blocks, 100))
    measured = measure()
    after = raw.costs(max(blocks, 100))
    return measured, Costs(*(sum(pair) / 2 for pair in zip(before, after, strict=True)))


def _floor(store, code, script: Path, raw: RawCommits, blocks: int) -> tuple[Costs, Costs]:
    """Costs per block of a first attempt with the block's own work left out, and a raw commit's beside it."""
    with _block_work_left_out():
        empty = _attempt_costs(store, code, _new_job(store, script), 1, 0)
        job_id = _new_job(store, script)
        first, raw_costs = _beside_raw(raw, blocks, partial(_attempt_costs, store, code, job_id, 1, blocks))
    return (first - empty).per(blocks), raw_costs


def per_block_seconds(script: Path, url: str, raw: RawCommits, blocks: int, repeat: int) -> dict[str, float]:
    """Medians over `repeat` fresh jobs, per block: the first attempt (wall, and its thread's user and
    kernel CPU) and the replay, a raw commit measured around it and the first attempt's multiple of it,
    the first attempt with the write left out, and with the block's own work left out (and that
    floor's multiple); and the seconds of a first attempt of no blocks (what an attempt costs besides
    its blocks)."""
    store = open_store(url)
    code = load_script(script).code
    names = (
        *("first", "user", "system", "replay", "raw", "raw_user", "raw_system", "ratio"),
        *("unwritten", "floor", "floor_ratio", "empty"),
    )
    runs: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeat):
        empty_job, job_id = _new_job(store, script), _new_job(store, script)
        first_0 = _attempt_costs(store, code, empty_job, 1, 0)
        first_n, raw_costs = _beside_raw(raw, blocks, partial(_attempt_costs, store, code, job_id, 1, blocks))
        replay_0 = _attempt_costs(store, code, empty_job, 2, 0)
        replay_n = _attempt_costs(store, code, job_id, 2, blocks)
        first = (first_n - first_0).per(blocks)
        floor, floor_raw = _floor(store, code, script, raw, blocks)
        runs["first"].append(first.wall)
        runs["user"].append(first.user)
        runs["system"].append(first.system)
        runs["replay"].append((replay_n - replay_0).per(blocks).wall)
        runs["raw"].append(raw_costs.wall)
        runs["raw_user"].append(raw_costs.user)
        runs["raw_system"].append(raw_costs.system)
        runs["ratio"].append(first.wall / raw_costs.wall)
        runs["unwritten"].append(_unwritten(store, code, script, blocks))
        runs["floor"].append(floor.wall)
        runs["floor_ratio"].append(floor.wall / floor_raw.wall)
        runs["empty"].append(first_0.wall)
    store.close()
    return {name: statistics.median(values) for name, values in runs.items()}


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
            raw = RawCommits(folder, synchronous)
            print(
                f"\nsynchronous={synchronous} (fenced INSERT per block; raw: one sqlite3 INSERT+COMMIT, side by side)"
            )
            for n in options.sizes:
                m = per_block_seconds(script, url, raw, n, options.repeat)
                us = {name: value * 1e6 for name, value in m.items()}
                print(
                    f"  N={n:5d}  first attempt {us['first']:6.1f} us/block = {m['ratio']:4.2f}x raw {us['raw']:5.1f}"
                    f"   CPU user/kernel {us['user']:4.1f}/{us['system']:4.1f} (raw {us['raw_user']:4.1f}/"
                    f"{us['raw_system']:4.1f})   the write left out {us['unwritten']:4.1f}"
                    f"   the block's work left out {us['floor']:6.1f} = {m['floor_ratio']:4.2f}x raw"
                    f"   replay {us['replay']:4.1f} us/block   attempt of 0 blocks {m['empty'] * 1e3:4.1f} ms"
                )
            raw.close()
        url = f"sqlite:///{folder / 'exec.sqlite'}"
        print(f"\npsflow exec, 3-block script, warm cache: {exec_process_seconds(folder, url, options.repeat):.3f} s")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(f"(python -c pass: {time.perf_counter() - start:.3f} s)")


if __name__ == "__main__":
    main()
