"""`Deploy.map(items, limit=)`: calls of an `@block` function in threads, each a block of its own.

Under plain Python (no recorder: the first tests) and in-process through psflow.api on every
backend. Concurrency is measured with a lock and a counter, and the first `limit` calls meet at a
barrier (which only `limit` calls running at once can pass): no test depends on timing.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path

import pytest

from psflow import BlockTimeout, api, block
from psflow.errors import BlockArgumentError
from support.running import resume_here


class Gauge:
    """How many bodies run at once, and the most that ever did."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc_info: object) -> None:
        with self.lock:
            self.now -= 1


@pytest.mark.parametrize("limit", [1, 3, 8])
def test_results_come_in_input_order_and_no_more_than_limit_run_at_once(limit: int) -> None:
    gauge, meet = Gauge(), threading.Barrier(limit, timeout=60)  # broken (an error) if fewer run at once
    started = iter(range(10**6))
    first = threading.Lock()

    @block("Square")
    def square(n: int) -> int:
        with gauge:
            with first:
                number = next(started)
            if number < limit:
                meet.wait()  # the first `limit` calls all run at once
            return n * n

    assert square.map(range(20), limit=limit) == [n * n for n in range(20)]
    assert gauge.most == limit


def test_failures_are_raised_together_after_every_call_ran() -> None:
    ran: list[int] = []

    @block("Check")
    def check(n: int) -> int:
        ran.append(n)
        if n % 3 == 0:
            raise ValueError(f"bad {n}")
        return n

    with pytest.raises(ExceptionGroup) as caught:
        check.map(range(7), limit=2)
    assert sorted(ran) == list(range(7))
    assert str(caught.value).startswith("3 of 7 calls of Check failed: Check[0], Check[3], Check[6]")
    assert [str(error) for error in caught.value.exceptions] == ["bad 0", "bad 3", "bad 6"]
    try:
        check.map([1, 3])
    except* ValueError as group:  # except* sees the calls' own exceptions
        assert [str(error) for error in group.exceptions] == ["bad 3"]


def test_a_call_that_runs_out_of_time_fails_alone() -> None:
    @block("Slow", timeout=0.1)
    def slow(n: int) -> str:
        if n == 1:
            for _ in range(6000):  # 60 s at most: the limit interrupts it between two sleeps
                time.sleep(0.01)
            return "not interrupted"
        return "done"

    with pytest.raises(BaseExceptionGroup) as caught:
        slow.map([0, 1, 2], limit=3)
    assert all(isinstance(error, BlockTimeout) for error in caught.value.exceptions)
    assert "Slow[1]" in str(caught.value) and len(caught.value.exceptions) == 1


def test_return_exceptions_puts_them_in_place() -> None:
    @block("Check")
    def check(n: int) -> int:
        if n == 1:
            raise KeyError(n)
        return n

    results = check.map([0, 1, 2], return_exceptions=True)
    assert results[0] == 0 and results[2] == 2 and isinstance(results[1], KeyError)


def test_limit_and_key_are_checked_before_anything_runs() -> None:
    ran: list[str] = []

    @block("Deploy")
    def deploy(host: str) -> None:
        ran.append(host)

    for limit in (0, -1, 1.5, "8"):
        with pytest.raises(BlockArgumentError, match="limit must be an int of 1 or more"):
            deploy.map(["a"], limit=limit)  # type: ignore[arg-type]
    with pytest.raises(BlockArgumentError, match="items 0 and 2"):
        deploy.map(["a.x", "b.y", "a.z"], key=lambda host: host.split(".")[0])
    with pytest.raises(BlockArgumentError, match="item 0"):
        deploy.map(["a"], key=lambda host: {"host": host})
    assert ran == []
    assert deploy.map([]) == []


def test_a_stop_in_a_call_starts_no_more_calls_under_plain_python() -> None:
    ran: list[int] = []

    @block("Step")
    def step(n: int) -> None:
        ran.append(n)
        if n == 0:
            raise SystemExit(3)  # what stop() raises under plain Python

    with pytest.raises(SystemExit):
        step.map(range(50), limit=1)
    assert ran == [0]


# ---- through psflow, in this process, on every backend ---------------------------------------


@pytest.fixture
def flow(tmp_path: Path, db_url: str):
    """Run a script (with `effect(text)` and `finish(**state)`), then resume it if `resumed`: results, effects, state."""

    def run(source: str, *, resumed: bool = False):
        script = tmp_path / "flow.py"
        prelude = textwrap.dedent(
            """\
            import json, sys, threading
            from pathlib import Path
            LOG, OUT = sys.argv[1], sys.argv[2]
            HERE = Path(LOG).parent  # the test's folder (this process's working folder is not)
            _lock = threading.Lock()
            def effect(text):
                with _lock, open(LOG, "a") as file:
                    file.write(f"{text}\\n")
            def finish(**state):
                with open(OUT, "w") as file:
                    json.dump(state, file)
            """
        )
        script.write_text(prelude + textwrap.dedent(source))
        log, out = tmp_path / "log.txt", tmp_path / "out.json"
        results = [api.run(script, [str(log), str(out)], db=db_url)]
        if resumed:
            results.extend(resume_here(db_url, results[0].job_id))
        state = json.loads(out.read_text()) if out.exists() else None
        lines = log.read_text().splitlines() if log.exists() else []
        return results, lines, state

    run.db_url = db_url  # type: ignore[attr-defined]
    return run


def test_failed_calls_run_again_on_resume_and_completed_ones_replay(flow, tmp_path: Path) -> None:
    results, log, state = flow(
        """
        @block("Deploy", retries=1)
        def deploy(host):
            effect(host)
            if host in ("b", "d") and not (HERE / "fixed").exists():
                raise RuntimeError(f"{host} is down")
            return host.upper()

        with block("Outer"):
            try:
                versions = deploy.map(["a", "b", "c", "d"], limit=2)
            except* RuntimeError as group:
                if job.attempt == 1:
                    (HERE / "fixed").touch()
                raise
        finish(versions=versions)
        """,
        resumed=True,
    )
    assert [result.status for result in results] == ["Failed", "Completed"]
    assert state == {"versions": ["A", "B", "C", "D"]}
    assert sorted(log) == ["a", "b", "b", "b", "c", "d", "d", "d"]  # b and d: two tries, then once more
    detail = api.job_detail(results[0].job_id, db=flow.db_url)
    runs = {(run["name"], run["attempt"]): run["status"] for run in detail["runs"]}
    assert runs[("Outer/Deploy[b]", 1)] == "Failed" and runs[("Outer/Deploy[b]", 2)] == "Completed"
    assert ("Outer/Deploy[a]", 2) not in runs  # replayed, not run again


def test_a_calls_output_is_in_its_own_block_and_prefixed_around_it(flow, capfd) -> None:
    results, _, _ = flow(
        """
        import os, subprocess, sys

        @block("Say")
        def say(word):
            print(f"said {word}")
            print(f"warned {word}", file=sys.stderr)
            subprocess.run(["echo", f"child {word}"], check=True)  # descriptor 1 itself: not told apart
            sys.stdout.write(f"no end {word}")
            return word

        with block("Outer"):
            say.map(["hi", "ho"], limit=2)
        """
    )
    assert results[0].status == "Completed"
    transcript = api.transcript(results[0].job_id, db=flow.db_url)
    output = {entry["name"]: entry["output"] for entry in transcript if entry["kind"] == "block"}
    assert output["Outer/Say[hi]"] == "said hi\nwarned hi\nno end hi"
    assert output["Outer/Say[ho]"] == "said ho\nwarned ho\nno end ho"
    assert sorted(output["Outer"].splitlines()) == [
        "[Outer/Say[hi]] no end hi",  # the unfinished last line, ended when the call ended
        "[Outer/Say[hi]] said hi",
        "[Outer/Say[hi]] warned hi",
        "[Outer/Say[ho]] no end ho",
        "[Outer/Say[ho]] said ho",
        "[Outer/Say[ho]] warned ho",
        "child hi",  # a child process's output goes to the block around the map
        "child ho",
    ]
    shown = capfd.readouterr()
    assert "[Outer/Say[hi]] said hi\n" in shown.out and "[Outer/Say[ho]] warned ho\n" in shown.err


@pytest.mark.parametrize("limit", [1, 2])
def test_a_stop_in_a_call_lets_the_running_calls_finish_and_starts_no_more(flow, limit: int) -> None:
    results, log, state = flow(
        f"""
        started = threading.Barrier({limit}, timeout=60)

        @block("Step")
        def step(n):
            if n < {limit} and job.attempt == 1:
                started.wait()  # the first calls all run before one of them stops
            effect(f"start {{n}}")
            if n == 0 and job.attempt == 1:
                stop("Waiting", reason="hold")
            effect(f"end {{n}}")
            return n

        values = step.map(range(6), limit={limit})
        finish(values=values)
        """,
        resumed=True,
    )
    assert [result.status for result in results] == ["Waiting", "Completed"]
    assert results[0].reason == "hold"
    assert state == {"values": [0, 1, 2, 3, 4, 5]}
    assert all(log.count(f"end {n}") == 1 for n in range(6))  # each body that completed ran once
    runs = {
        (run["name"], run["attempt"]): run["status"]
        for run in api.job_detail(results[0].job_id, db=flow.db_url)["runs"]
    }
    assert runs[("Step[0]", 1)] == "Stopped"
    assert all(runs.get((f"Step[{n}]", 1)) == "Completed" for n in range(1, limit))  # running: they finished
    if limit == 1:
        assert log[:1] == ["start 0"] and log[1] == "start 0"  # nothing started after the stop


def test_keys_are_scoped_counted_and_chosen_by_key(flow) -> None:
    results, _, state = flow(
        """
        @block("Get")
        def get(item):
            return item["id"] if isinstance(item, dict) else item

        a = get.map(["x", "y"])
        b = get.map(["x", "y"])
        c = get.map([{"id": 1}, {"id": 2}])
        d = get.map([{"id": 7}], key=lambda item: f"id{item['id']}")
        finish(values=[a, b, c, d])
        """
    )
    assert state == {"values": [["x", "y"], ["x", "y"], [1, 2], [7]]}
    names = [run["name"] for run in api.job_detail(results[0].job_id, db=flow.db_url)["runs"]]
    assert sorted(names) == sorted(["Get[x]", "Get[y]", "Get[x]#2", "Get[y]#2", "Get[0]", "Get[1]", "Get[id7]"])


def test_a_map_inside_a_call_keys_and_keeps_output_inside_that_call(flow) -> None:
    results, log, state = flow(
        """
        @block("Inner")
        def inner(x):
            print(f"inner {x}")
            effect(f"inner {x}")
            return x * 2

        @block("Outer")
        def outer(name):
            print(f"outer {name}")
            return inner.map([1, 2], limit=2)

        finish(values=outer.map(["a", "b"], limit=2))
        """
    )
    assert results[0].status == "Completed"
    assert state == {"values": [[2, 4], [2, 4]]}
    assert sorted(log) == ["inner 1", "inner 1", "inner 2", "inner 2"]
    transcript = api.transcript(results[0].job_id, db=flow.db_url)
    output = {entry["name"]: entry["output"] for entry in transcript if entry["kind"] == "block"}
    assert output["Outer[a]/Inner[2]"] == "inner 2\n"
    assert output["Outer[a]"].splitlines()[0] == "outer a"
    assert sorted(output["Outer[a]"].splitlines()[1:]) == ["[Outer[a]/Inner[1]] inner 1", "[Outer[a]/Inner[2]] inner 2"]
