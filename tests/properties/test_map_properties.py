"""A map interrupted anywhere and resumed gives what one straight run gives.

Random maps: sizes, limits, items keyed by themselves or by position, a random set of calls that
fail in the first attempt, and maybe one that stops it. The first attempt ends Failed or Waiting;
one resume completes the job. Its results must equal a straight run's, and every call body that
completed did so exactly once across the attempts (each writes a line at its end). In-process,
through psflow.api, on every backend.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psflow import api
from support.running import resume_here

SCRIPT = """\
import json, sys, threading
from pathlib import Path
from psflow import block, stop

plan = json.loads(sys.argv[1])
folder = Path(sys.argv[2])
lock = threading.Lock()

@block("Call")
def call(item):
    n = item if isinstance(item, int) else item["n"]
    if job.attempt == 1 and n in plan["failing"]:
        raise ValueError(f"call {n} fails")
    if job.attempt == 1 and n == plan["stop"]:
        stop("Waiting", reason=f"call {n} stops")
    with lock, open(folder / "completed.log", "a") as log:
        log.write(f"{n}\\n")
    return n * n + 1

items = list(range(plan["size"])) if plan["by_item"] else [{"n": n} for n in range(plan["size"])]
with block("Around"):
    results = call.map(items, limit=plan["limit"], return_exceptions=plan["in_place"])
    shown = [f"error: {r}" if isinstance(r, Exception) else r for r in results]
(folder / "results.json").write_text(json.dumps(shown))
"""


@st.composite
def plans(draw) -> dict:
    size = draw(st.integers(min_value=1, max_value=12))
    stop = draw(st.none() | st.integers(0, size - 1))
    return {
        "size": size,
        "limit": draw(st.integers(min_value=1, max_value=5)),
        "by_item": draw(st.booleans()),
        "failing": sorted(draw(st.sets(st.integers(0, size - 1), max_size=size)) - {stop}),
        "stop": stop,
        "in_place": draw(st.booleans()),
    }


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans())
def test_a_resumed_map_equals_a_straight_run(db_url: str, plan: dict) -> None:
    straight = _run({**plan, "failing": [], "stop": None}, db_url)
    resumed = _run(plan, db_url)

    assert straight["results"] == [n * n + 1 for n in range(plan["size"])]
    kept = set(range(plan["size"]))
    expected = straight["results"]
    if plan["in_place"] and plan["stop"] is None:  # the job completed in attempt 1, the failures in place
        kept -= set(plan["failing"])
        expected = [f"error: call {n} fails" if n not in kept else result for n, result in enumerate(expected)]
    assert resumed["results"] == expected
    assert resumed["completed"] == Counter(kept)  # each body completed once, none twice


def _run(plan: dict, db_url: str) -> dict:
    """Run the plan's job until it completes (one resume at most): its results, and how many times
    each call body completed."""
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        script = folder / "flow.py"
        script.write_text(SCRIPT)
        first = api.run(script, [json.dumps(plan), str(folder)], db=db_url)
        statuses = [first.status]
        if first.status != "Completed":
            again = resume_here(db_url, first.job_id)
            statuses += [result.status for result in again]
        if plan["stop"] is not None:
            assert statuses == ["Waiting", "Completed"]  # a stop wins over the failures around it
        elif plan["failing"] and not plan["in_place"]:
            assert statuses == ["Failed", "Completed"]
        else:
            assert statuses == ["Completed"]
        log = folder / "completed.log"
        return {
            "results": json.loads((folder / "results.json").read_text()),
            "completed": Counter(int(line) for line in log.read_text().split()) if log.exists() else Counter(),
        }
