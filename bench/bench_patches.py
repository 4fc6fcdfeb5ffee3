"""What watching an outer object costs a block: imaging it as the block begins, and comparing it
and recording the patch as the block ends (psflow.runtime.patches, through the codec as stored).

    python bench/bench_patches.py            # median of 21 runs of each case
    python bench/bench_patches.py --runs 51

Each case is an object a block gives to a call or changes, and what the block does to it. The
"only read" cases are what a block pays for an object it merely passes to a call (`len(rows)`,
`print(rows)`): the cost the patch model adds where a snapshot model cost nothing.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

from psflow import codec
from psflow.runtime import patches


def _cases() -> list[tuple[str, Callable[[], Any], Callable[[Any], object]]]:
    return [
        ("list of 100,000 ints, only read (len)", lambda: list(range(100_000)), len),
        ("list of 100,000 ints, one appended", lambda: list(range(100_000)), lambda rows: rows.append(1)),
        ("list of 100,000 ints, shuffled", lambda: list(range(100_000)), lambda rows: rows.reverse()),
        ("dict of 10,000 dicts, only read", lambda: {i: {"n": i} for i in range(10_000)}, len),
        ("dict of 10,000 dicts, one changed inside", lambda: {i: {"n": i} for i in range(10_000)}, _bump),
        ("a logger, logger.info", lambda: logging.getLogger("bench"), lambda logger: logger.info("x")),
        ("a small dict, one key set", lambda: {"a": 1, "b": [1, 2]}, lambda d: d.update(c=3)),
    ]


def _bump(entries: dict[int, dict[str, int]]) -> None:
    entries[5]["n"] += 1


def _once(make: Callable[[], Any], change: Callable[[Any], object]) -> float:
    value = make()
    start = time.perf_counter()
    images = patches.Images()
    images.take(value)
    change(value)
    patch = images.patch(value)
    if patch is not None:
        codec.encode({"x": patch})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    given = parser.parse_args()
    print(f"{'case':<45} {'ms per block':>12}")
    for label, make, change in _cases():
        median = statistics.median(_once(make, change) for _ in range(given.runs))
        print(f"{label:<45} {median * 1000:>12.2f}")


if __name__ == "__main__":
    main()
