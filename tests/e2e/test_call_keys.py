"""`@block` calls keyed by name and arguments: skipping a call inside a replayed block shifts no other call.

Each script runs three ways, as issue 12 asks: plain `python` (with the gate file `go` present),
then `psflow exec` (stops at the gate), then `psflow resume` after `touch go`. All three print the
same thing, and each call's body runs once across the two attempts (effects.log counts them).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from textwrap import dedent

import pytest

from support.cli import job_id_of
from support.database import timers_run_out

HEAD = """
    from pathlib import Path
    from psflow import block, sleep, stop

    def effect(text):
        with open("effects.log", "a") as log:
            log.write(text + "\\n")
        return sum(1 for _ in open("effects.log"))  # how many effects so far: differs if a body runs again
"""
GATE = """
    if not Path("go").exists():
        stop("Waiting")
"""


def _script(write, body: str) -> str:
    """s.py: HEAD, `body`, GATE; its text."""
    text = dedent(HEAD) + dedent(body) + dedent(GATE)
    write("s.py", text)
    return text


def _effects(tmp_path: Path) -> Counter:
    return Counter((tmp_path / "effects.log").read_text().splitlines())


def _three_ways(psflow, write, tmp_path: Path, body: str) -> tuple[list[str], str]:
    """The outputs of plain Python, attempt 1 and attempt 2, and the job id; asserts that the two
    attempts had the effects plain Python had (each body once, none twice)."""
    _script(write, body)
    (tmp_path / "go").touch()
    plain = subprocess.run([sys.executable, "s.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    plain_effects = _effects(tmp_path)
    (tmp_path / "go").unlink()
    (tmp_path / "effects.log").unlink()

    first = psflow("exec", "s.py")
    assert first.returncode == 3, first.stderr
    job_id = job_id_of(first)
    (tmp_path / "go").touch()
    second = psflow("resume")
    assert second.returncode == 0, second.stderr
    assert f"job {job_id}: Completed" in second.stderr, second.stderr
    assert _effects(tmp_path) == plain_effects
    return [plain.stdout, first.stdout, second.stdout], job_id


def _names(job_detail, job_id: str) -> list[str]:
    return [run["name"] for run in job_detail(job_id)["runs"]]


@pytest.mark.every_backend
def test_a_call_inside_a_replayed_block_does_not_shift_the_next_call(psflow, write, tmp_path, job_detail):
    outputs, job_id = _three_ways(
        psflow,
        write,
        tmp_path,
        """
        @block("Fetch")
        def fetch(n):
            effect(f"fetch {n}")
            return n * 10

        with block("A"):
            a = fetch(1)
        b = fetch(2)
        print(a, b)
        """,
    )

    assert outputs == ["10 20\n"] * 3
    assert sorted(_names(job_detail, job_id)) == ["A", "A/Fetch(1)", "Fetch(2)"]


def test_recursive_calls_replay_their_own_values(psflow, write, tmp_path):
    outputs, _ = _three_ways(
        psflow,
        write,
        tmp_path,
        """
        @block("Fib")
        def fib(n):
            effect(f"fib {n}")
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        with block("Small"):
            small = fib(3)
        print(small, fib(4), fib(5))
        """,
    )

    assert outputs == ["2 3 5\n"] * 3


def test_identical_calls_inside_and_outside_a_replayed_block_keep_their_own_values(psflow, write, tmp_path, job_detail):
    outputs, job_id = _three_ways(
        psflow,
        write,
        tmp_path,
        """
        @block("Fetch")
        def fetch(n):
            return f"{n}-{effect(f'fetch {n}')}"

        with block("A"):
            inside = fetch(1)
        outside, again = fetch(1), fetch(1)
        print(inside, outside, again)
        """,
    )

    assert outputs == ["1-1 1-2 1-3\n"] * 3
    assert sorted(_names(job_detail, job_id)) == ["A", "A/Fetch(1)", "Fetch(1)", "Fetch(1)#2"]


def test_arguments_that_are_not_short_literals_are_keyed_by_a_digest(psflow, write, tmp_path, job_detail):
    outputs, job_id = _three_ways(
        psflow,
        write,
        tmp_path,
        """
        @block("Total")
        def total(rows, *, scale=1):
            effect(f"total {len(rows)}")
            return sum(rows.values()) * scale

        with block("A"):
            first = total({"a": 1, "b": 2})
        second = total({"b": 2, "a": 1}, scale=10)  # equal keys in another order: still another call (scale)
        print(first, second)
        """,
    )

    assert outputs == ["3 30\n"] * 3
    names = sorted(_names(job_detail, job_id))
    assert names[0] == "A" and names[1].startswith("A/Total(#") and names[2].startswith("Total(#")


def test_an_argument_the_codec_cannot_encode_is_keyed_by_its_type_and_warned_about(psflow, write, tmp_path):
    outputs, _ = _three_ways(
        psflow,
        write,
        tmp_path,
        """
        import threading

        @block("Locked")
        def locked(lock, n):
            with lock:
                effect(f"locked {n}")
            return n * 10

        lock = threading.Lock()
        with block("A"):
            a = locked(lock, 1)
        b = locked(lock, 2)
        print(a, b)
        """,
    )

    assert outputs == ["10 20\n"] * 3
    warning = (
        "@block 'Locked': an argument of type _thread.lock cannot be encoded, so calls are told apart by its "
        "type only: calls alike but for it are matched in call order on replay"
    )
    run = psflow("exec", "s.py")  # a new job, to read its warning
    assert run.stderr.count(warning) == 1, run.stderr
    line = (tmp_path / "s.py").read_text().splitlines().index('@block("Locked")') + 1
    assert f"s.py:{line}: {warning}" in run.stderr


def test_a_timer_in_a_call_after_a_replayed_block_keeps_its_own_due_time(psflow, write, tmp_path):
    _script(
        write,
        """
        @block("Pause")
        def pause(seconds):
            sleep(seconds)
            effect(f"paused {seconds}")
            return seconds

        with block("A"):
            short = pause(0)
        print(short, pause(600))
        """,
    )
    first = psflow("exec", "s.py")
    assert first.returncode == 3, first.stderr
    job_id = job_id_of(first)
    (tmp_path / "go").touch()

    early = psflow("resume")
    timers_run_out(psflow.db_url, job_id)
    late = psflow("resume")

    assert f"job {job_id}: skipped: sleeping until" in early.stderr, early.stderr
    assert late.returncode == 0, late.stderr
    assert (first.stdout, early.stdout, late.stdout) == ("", "", "0 600\n")
    assert _effects(tmp_path) == {"paused 0": 1, "paused 600": 1}


def test_timers_and_inputs_in_a_replayed_block_shift_nothing_after_it(psflow, write, tmp_path):
    """A guard (this passed before calls were keyed by arguments too): a timer is keyed within its
    block (`A/sleep`) and an input by its name, so skipping block A changes no key after it."""
    _script(
        write,
        """
        from psflow import wait_for

        with block("A"):
            sleep(0)
            first = wait_for("colour")
            effect("a")
        sleep(600)
        print(first, wait_for("colour"))
        """,
    )
    first = psflow("exec", "s.py")
    job_id = job_id_of(first)
    sent = psflow("send", job_id, "colour=red")
    after_input = psflow("resume")
    timers_run_out(psflow.db_url, job_id)
    (tmp_path / "go").touch()
    woke = psflow("resume")

    assert sent.returncode == 0, sent.stderr
    assert f"job {job_id}: Waiting" in after_input.stderr, after_input.stderr
    assert woke.returncode == 0, woke.stderr
    assert woke.stdout == "red red\n"
    assert _effects(tmp_path) == {"a": 1}


def test_a_job_begun_with_call_order_keys_keeps_them(psflow, write, tmp_path):
    """A job an earlier psflow began has `Fetch`, `Fetch#2`: its calls are replayed by those keys."""
    _script(
        write,
        """
        @block("Fetch")
        def fetch(n):
            return n * effect(f"fetch {n}")

        print(fetch(1), fetch(2))
        """,
    )
    first = psflow("exec", "s.py")
    assert first.returncode == 3, first.stderr
    job_id = job_id_of(first)
    _rename_blocks(psflow.db_url, job_id, {"Fetch(1)": "Fetch", "Fetch(2)": "Fetch#2"})
    (tmp_path / "go").touch()

    second = psflow("resume")

    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout == "1 4\n"
    assert _effects(tmp_path) == {"fetch 1": 1, "fetch 2": 1}
    assert "@block 'Fetch': this job's calls were recorded by an earlier psflow in call order" in second.stderr


def test_block_names_that_look_like_call_keys_are_refused(psflow, write):
    write("names.py", 'with block("deploy(web1)"):\n    pass\n')
    write("mapped.py", 'with block("Deploy[web1]"):\n    pass\n')
    write("deco.py", '@block("fetch/web")\ndef fetch():\n    pass\n')

    block_name = psflow("exec", "names.py")
    map_key = psflow("exec", "mapped.py")
    callable_name = psflow("exec", "deco.py")

    assert block_name.returncode == 2
    assert (
        "error: block name 'deploy(web1)' ends in ')' or ')#N': that form is kept for the keys of @block"
        in block_name.stderr
    )
    assert map_key.returncode == 2
    assert "error: block name 'Deploy[web1]' ends in '[item]' or '[item]#N'" in map_key.stderr
    assert callable_name.returncode == 2
    assert "@block name 'fetch/web' contains '/', '(', ')', '[' or ']': its calls are keyed" in callable_name.stderr


def test_rerun_from_a_call_key_runs_that_call_and_the_later_ones_again(psflow, write, tmp_path):
    outputs, job_id = _three_ways(
        psflow,
        write,
        tmp_path,
        """
        @block("Fetch")
        def fetch(host):
            effect(f"fetch {host}")
            return host.upper()

        print(fetch("web1"), fetch("web2"))
        """,
    )

    rerun = psflow("rerun", job_id, "--from", "Fetch('web2')")
    again = psflow("resume")

    assert rerun.returncode == 0, rerun.stderr
    assert again.returncode == 0, again.stderr
    assert again.stdout == outputs[0] == "WEB1 WEB2\n"
    assert _effects(tmp_path) == {"fetch web1": 1, "fetch web2": 2}


def _rename_blocks(db_url: str, job_id: str, names: dict[str, str]) -> None:
    from playhouse.db_url import connect

    db = connect(db_url)
    try:
        for old, new in names.items():
            db.execute_sql(
                f"UPDATE psflow_block SET name = {db.param} WHERE job_id = {db.param} AND name = {db.param}",
                (new, job_id, old),
            )
    finally:
        db.close()
