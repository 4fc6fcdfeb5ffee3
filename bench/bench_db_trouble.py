"""What the retry of database trouble (psflow.store.retry) costs, on SQLite.

Prints:
  * what the retry loop adds to every Store call when nothing is wrong: the loop around a
    unit that does nothing (timeit, best of 5; a Store call itself costs tens of us or more);
  * how soon a call goes through after another connection lets go of a write lock held for
    1, 3 and 8 s: the delay between the release and the call's return, median of --repeat // 2
    (SQLite's busy handler waits up to 5 s per try, then psflow's backoff, capped at 2 s,
    tries again).

    python bench/bench_db_trouble.py
    python bench/bench_db_trouble.py --repeat 9
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
import timeit
from pathlib import Path

from psflow.clock import SYSTEM_CLOCK
from psflow.domain import Runner
from psflow.store import Store, open_store
from psflow.store.retry import retrying

RUNNER = Runner("bench", 1, 60.0)


def loop_cost(store: Store) -> float:
    """Seconds the retry loop adds around a unit that does nothing (best of 5 timeit runs)."""

    def wrapped() -> None:
        retrying(lambda: None, store.db, where="", seconds=30, clock=SYSTEM_CLOCK, connected=bool, notice=None)

    return min(timeit.repeat(wrapped, number=100_000, repeat=5)) / 100_000


def release_delay(path: Path, store: Store, held: float) -> float:
    """Seconds from the release of a lock held `held` s (by another connection) to the call's return."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    released = []

    def release() -> None:
        time.sleep(held)
        holder.execute("ROLLBACK")
        released.append(time.perf_counter())

    thread = threading.Thread(target=release)
    thread.start()
    store.set_live_output("job", 1, "bench\n")  # a fenced write: waits for the lock
    done = time.perf_counter()
    thread.join()
    holder.close()
    return done - released[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="psflow-bench-trouble-"))
    path = folder / "bench.sqlite"
    store = open_store(f"sqlite:///{path}")
    store.create_job("job", name="bench", script="bench.py", source="", source_sha256="0" * 64, args=[], runner=RUNNER)

    print(f"the retry loop alone: {loop_cost(store) * 1e6:.2f} us per call")
    for held in (1.0, 3.0, 8.0):
        delays = sorted(release_delay(path, store, held) for _ in range(max(1, options.repeat // 2)))
        print(
            f"lock held {held:3.0f} s: the waiting call returned {delays[len(delays) // 2] * 1e3:6.1f} ms "
            f"after the release (median)"
        )
    store.close()


if __name__ == "__main__":
    main()
