"""Fan-out: what running calls in parallel costs, and child jobs through workers.

    python bench/bench_fanout.py                 # every part
    python bench/bench_fanout.py --only map      # the parts named (comma-separated)

children: bench/bench_children.py with its defaults (400 child jobs through two `psflow worker`s,
on SQLite and PostgreSQL; run it alone for its options): see its docstring.

map:
  * overhead per call: N trivial calls of an `@block` function by `Step.map(range(N), limit=8)`
    next to the same N calls one after another (`[step(n) for n in range(N)]`), each call a
    block with its own committed record either way; and the replay of each (all completed);
  * 100 calls that each sleep 50 ms, limit 8 (target: the map within 0.8 s; 13 rounds of
    50 ms are 0.65 s), timed inside the script, and the whole `psflow exec` process around it.

Each script times its own map or loop and writes the seconds to a file, so the figures are the
calls' alone, not the attempt's start and end. Medians of --repeat fresh jobs. Numbers only, no
assertions: the machine decides them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from psflow import api

PSFLOW = str(Path(sys.executable).with_name("psflow"))

CALLS = """\
import json, sys, time
from psflow import block

@block("Step")
def step(n):
    return n

count, form, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.perf_counter()
if form == "map":
    results = step.map(range(count), limit=8)
else:
    results = [step(n) for n in range(count)]
seconds = time.perf_counter() - start
assert results == list(range(count))
with open(out, "w") as file:
    json.dump(seconds, file)
if job.attempt == 1:
    stop("Waiting")
"""

SLEEPS = """\
import json, sys, time
from psflow import block

@block("Nap")
def nap(n):
    time.sleep(0.05)
    return n

start = time.perf_counter()
nap.map(range(100), limit=8)
with open(sys.argv[1], "w") as file:
    json.dump(time.perf_counter() - start, file)
"""


def bench_map(folder: Path, repeat: int, calls: int) -> None:
    db = f"sqlite:///{folder / 'map.sqlite'}"
    script = folder / "calls.py"
    script.write_text(CALLS)
    out = folder / "seconds.json"
    timings: dict[tuple[str, int], list[float]] = {}
    for _ in range(repeat):
        for form in ("loop", "map"):
            first = _quiet(api.run, script, [str(calls), form, str(out)], db=db)
            timings.setdefault((form, 1), []).append(json.loads(out.read_text()))
            _quiet(api.resume, job_ids=[first.job_id], statuses=["Waiting"], db=db)
            timings.setdefault((form, 2), []).append(json.loads(out.read_text()))
    per_call = {key: statistics.median(values) / calls * 1e6 for key, values in timings.items()}
    print(f"map: {calls} trivial calls, each a block with its own record (us per call, medians of {repeat})")
    for attempt, what in ((1, "first attempt"), (2, "replay       ")):
        loop, mapped = per_call[("loop", attempt)], per_call[("map", attempt)]
        print(
            f"  {what}  one after another {loop:8.1f}   map(limit=8) {mapped:8.1f}   "
            f"overhead of map {mapped - loop:+8.1f} us/call"
        )

    sleeps = folder / "sleeps.py"
    sleeps.write_text(SLEEPS)
    inside, process = [], []
    for number in range(repeat):
        env = {**os.environ, "PSFLOW_DB": f"sqlite:///{folder / f'sleeps-{number}.sqlite'}"}
        start = time.perf_counter()
        subprocess.run([PSFLOW, "exec", str(sleeps), str(out)], env=env, capture_output=True, check=True)
        process.append(time.perf_counter() - start)
        inside.append(json.loads(out.read_text()))
    print(
        f"map: 100 calls sleeping 50 ms, limit 8 (target <= 0.8 s): the map {statistics.median(inside):.3f} s, "
        f"the whole `psflow exec` {statistics.median(process):.3f} s (medians of {repeat})"
    )


def _quiet(run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`run(*args, **kwargs)` with what the script prints set aside; its result (a run's, or a resume's first)."""
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        result = run(*args, **kwargs)
    if isinstance(result, list):
        result = result[0]
    if getattr(result, "status", None) not in ("Waiting", "Completed"):
        raise SystemExit(f"bench: a run ended {getattr(result, 'status', result)}, not as measured")
    return result


def bench_children(folder: Path, repeat: int, calls: int) -> None:
    subprocess.run([sys.executable, str(Path(__file__).with_name("bench_children.py"))], check=True)


SCENARIOS = {"map": bench_map, "children": bench_children}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500, help="trivial calls per run for the overhead")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="which parts to run (comma-separated)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    unknown = only - SCENARIOS.keys()
    if unknown:
        parser.error(f"--only: no part named {', '.join(sorted(unknown))} (there are: {', '.join(SCENARIOS)})")
    with tempfile.TemporaryDirectory() as temporary:
        for name, scenario in SCENARIOS.items():
            if name in only:
                scenario(Path(temporary), args.repeat, args.calls)


if __name__ == "__main__":
    main()
