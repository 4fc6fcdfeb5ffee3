"""Replay semantics, run in-process on every backend: psflow.api runs a job, and the job is resumed
here as a worker process would resume it (support.running.resume_here).

Each script appends to a side-effect log; a test runs it, stops it, resumes it,
and checks both what the script computed and that no completed block ran twice.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from psflow import api
from support.running import resume_here


@pytest.fixture
def flow(tmp_path: Path, db_url: str):
    """Write a script, run it until it stops, resume it to the end; return (results, log, final state)."""

    def run(source: str, *, attempts: int = 2):
        script = tmp_path / "flow.py"
        prelude = textwrap.dedent(
            """\
            import json, sys
            LOG = sys.argv[1]
            def effect(text):
                with open(LOG, "a") as file:
                    file.write(f"{text}\\n")
            def finish(**state):
                with open(sys.argv[2], "w") as file:
                    json.dump(state, file)
            """
        )
        script.write_text(prelude + textwrap.dedent(source))
        log, out = tmp_path / "log.txt", tmp_path / "out.json"
        results = [api.run(script, [str(log), str(out)], db=db_url)]
        while len(results) < attempts:
            results.extend(resume_here(db_url, results[0].job_id))
        state = json.loads(out.read_text()) if out.exists() else None
        lines = log.read_text().splitlines() if log.exists() else []
        return results, lines, state

    return run


def test_bound_names_come_back_and_bodies_run_once(flow) -> None:
    results, log, state = flow(
        """
        with block("Step1"):
            rows = [1, 2, 3]
            total = sum(rows)
            effect("step1")
        if job.attempt == 1:
            stop("Waiting")
        with block("Step2"):
            effect("step2")
        finish(rows=rows, total=total)
        """
    )
    assert [r.status for r in results] == ["Waiting", "Completed"]
    assert log == ["step1", "step2"]
    assert state == {"rows": [1, 2, 3], "total": 6}
    assert (results[1].ran, results[1].replayed) == (1, 1)


def test_blocks_in_functions_loops_and_returns_replay(flow) -> None:
    results, log, state = flow(
        """
        def fetch(host):
            with block(f"fetch-{host}"):
                effect(f"fetch {host}")
                return host.upper()

        found = []
        for host in ["a", "b", "c", "d"]:
            with block(f"check-{host}"):
                effect(f"check {host}")
                if host == "c":
                    break
                if host == "a":
                    continue
                found.append(fetch(host))
        if job.attempt == 1:
            stop("Waiting")
        finish(found=found, host=host)
        """
    )
    assert [r.status for r in results] == ["Waiting", "Completed"]
    assert log == ["check a", "check b", "fetch b", "check c"]
    assert state == {"found": ["B"], "host": "c"}


def test_outer_objects_mutated_in_place_are_redone(flow) -> None:
    _results, log, state = flow(
        """
        results = []
        config = {"mode": "dry"}
        alias = results
        with block("collect"):
            results.append(42)
            config["mode"] = "real"
            effect("collect")
        if job.attempt == 1:
            stop("Waiting")
        finish(results=results, config=config, same=alias is results)
        """
    )
    assert log == ["collect"]
    assert state == {"results": [42], "config": {"mode": "real"}, "same": True}


def test_del_global_and_nonlocal_are_replayed(flow) -> None:
    _results, log, state = flow(
        """
        counter = 0
        temp = "x"
        def bump():
            global counter
            with block("bump"):
                counter += 5
                effect("bump")
        def outer():
            value = 1
            def inner():
                nonlocal value
                with block("inner"):
                    value = 7
                    effect("inner")
            inner()
            return value
        bump()
        with block("drop"):
            del temp
            effect("drop")
        got = outer()
        if job.attempt == 1:
            stop("Waiting")
        finish(counter=counter, got=got, temp_gone="temp" not in globals())
        """
    )
    assert log == ["bump", "drop", "inner"]
    assert state == {"counter": 5, "got": 7, "temp_gone": True}


def test_class_body_block_leaves_no_handle_and_mangles_private_names(flow) -> None:
    _results, log, state = flow(
        """
        class Settings:
            with block("settings"):
                __secret = "s3"
                public = 1
                effect("settings")
            reveal = __secret
        if job.attempt == 1:
            stop("Waiting")
        finish(
            reveal=Settings.reveal,
            public=Settings.public,
            handles=[k for k in vars(Settings) if "psflow" in k],
        )
        """
    )
    assert log == ["settings"]
    assert state == {"reveal": "s3", "public": 1, "handles": []}


def test_no_block_handle_stays_in_globals_locals_or_dir(flow) -> None:
    """Ran or replayed, a block leaves nothing of psflow's behind in the namespace that holds it."""
    _results, log, state = flow(
        """
        def handles(names):
            return sorted(name for name in names if "psflow" in name)
        with block("A"):
            a = 1
            effect("A")
        def f():
            with block("B"):
                b = 2
            return handles(locals())
        seen = {"dir": handles(dir()), "globals": handles(globals()), "locals": f()}
        if job.attempt == 1:
            stop("Waiting")
        finish(**seen)
        """
    )
    assert log == ["A"]
    assert state == {"dir": [], "globals": [], "locals": []}


def test_decorated_function_calls_are_blocks(flow) -> None:
    _results, log, state = flow(
        """
        @block("double")
        def double(x):
            effect(f"double {x}")
            return x * 2
        values = [double(1), double(2), double(3)]
        if job.attempt == 1:
            stop("Waiting")
        finish(values=values)
        """
    )
    assert log == ["double 1", "double 2", "double 3"]
    assert state == {"values": [2, 4, 6]}


def test_failed_block_runs_again_and_completed_ones_do_not(flow, tmp_path: Path) -> None:
    results, log, _state = flow(
        """
        with block("first"):
            effect("first")
        with block("flaky"):
            effect(f"flaky attempt {job.attempt}")
            if job.attempt == 1:
                raise RuntimeError("not yet")
        finish(done=True)
        """
    )
    assert [r.status for r in results] == ["Failed", "Completed"]
    assert results[0].exit_code == 1 and "RuntimeError: not yet" in results[0].reason
    assert log == ["first", "flaky attempt 1", "flaky attempt 2"]


def test_user_try_except_sees_the_exception_and_block_is_failed(flow, db_url: str) -> None:
    results, log, state = flow(
        """
        try:
            with block("boom"):
                effect(f"boom {job.attempt}")
                raise KeyError("k")
        except KeyError:
            caught = True
        if job.attempt == 1:
            stop("Waiting")
        finish(caught=caught)
        """
    )
    assert log == ["boom 1", "boom 2"]
    assert state == {"caught": True}
    detail = api.job_detail(results[0].job_id, db=db_url)
    assert [(b["name"], b["status"]) for b in detail["blocks"]] == [("boom", "Failed")]
    assert "KeyError" in detail["blocks"][0]["error"]


def test_stop_inside_block_reruns_that_block(flow) -> None:
    results, log, _state = flow(
        """
        with block("gate"):
            effect(f"gate {job.attempt}")
            if job.attempt < 3:
                stop("Waiting", reason="not approved")
            approved = True
        finish(approved=approved)
        """,
        attempts=3,
    )
    assert [r.status for r in results] == ["Waiting", "Waiting", "Completed"]
    assert results[0].reason == "not approved" and results[0].exit_code == 3
    assert log == ["gate 1", "gate 2", "gate 3"]


def test_duplicate_block_name_fails_the_attempt_naming_both_lines(flow) -> None:
    results, log, _state = flow(
        """
        for i in range(2):
            with block("same"):
                effect("same")
        """,
        attempts=1,
    )
    (result,) = results
    assert result.status == "Failed" and result.exit_code == 1
    assert "reached twice" in result.reason and result.reason.count("flow.py:11") == 2
    assert log == ["same"]


def test_value_that_cannot_be_saved_is_reported_and_unbound_on_replay(flow, capsys) -> None:
    _results, _log, state = flow(
        """
        with block("open"):
            handle = open(LOG, "a")
            number = 5
            effect("open")
        if job.attempt == 1:
            stop("Waiting")
        finish(has_handle="handle" in globals(), number=number)
        """
    )
    err = capsys.readouterr().err
    assert "cannot save 'handle' (_io.TextIOWrapper)" in err and "unbound on replay" in err
    assert state == {"has_handle": False, "number": 5}


def test_output_is_captured_per_block_and_shown_live(flow, db_url: str, capsys) -> None:
    results, _log, _state = flow(
        """
        with block("talk"):
            print("hello from talk")
            print("to stderr", file=sys.stderr)
        print("outside")
        """,
        attempts=1,
    )
    captured = capsys.readouterr()
    assert "hello from talk" in captured.out and "outside" in captured.out
    from psflow.store import open_store

    with open_store(db_url) as store:
        (row,) = store.block_runs(results[0].job_id, with_output=True)
    assert row.output == "hello from talk\nto stderr\n"


def test_blocks_in_helper_modules_of_the_script_folder(flow, tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text(
        textwrap.dedent(
            """\
            from psflow import block
            def fetch(log, n):
                with block(f"fetch-{n}"):
                    with open(log, "a") as file:
                        file.write(f"fetch {n}\\n")
                    value = n * 10
                return value
            """
        )
    )
    results, log, state = flow(
        """
        import helpers
        values = [helpers.fetch(LOG, 1), helpers.fetch(LOG, 2)]
        if job.attempt == 1:
            stop("Waiting")
        finish(values=values)
        """
    )
    assert log == ["fetch 1", "fetch 2"]
    assert state == {"values": [10, 20]}
    assert results[1].replayed == 2


EXITS = """
    import sys
    LOG = sys.argv[1]
    def effect(text):
        with open(LOG, "a") as file:
            file.write(f"{text}\\n")
    with block("Setup"):
        effect("setup")
    with block("Done"):
        effect("done")
        sys.exit(int(sys.argv[2]) if sys.argv[2] != "None" else None)
    effect("after")
"""


@pytest.mark.parametrize("code", ["0", "None"])
def test_sys_exit_0_in_a_block_completes_it_and_its_replay_exits_again(tmp_path: Path, db_url: str, code) -> None:
    script, log = tmp_path / "flow.py", tmp_path / "log.txt"
    script.write_text(textwrap.dedent(EXITS))

    first = api.run(script, [str(log), code], db=db_url)
    api.rerun(first.job_id, only=["Setup"], db=db_url)
    [second] = resume_here(db_url, first.job_id)

    assert (first.status, first.exit_code, second.status, second.exit_code) == ("Completed", 0, "Completed", 0)
    assert (second.ran, second.replayed) == (1, 1)
    assert log.read_text().splitlines() == ["setup", "done", "setup"]  # Done's body ran once; "after" never
    blocks = api.job_detail(first.job_id, db=db_url)["blocks"]
    assert [(block["name"], block["status"]) for block in blocks] == [("Setup", "Completed"), ("Done", "Completed")]


def test_sys_exit_with_an_error_status_in_a_block_fails_it_and_the_job(tmp_path: Path, db_url: str) -> None:
    script, log = tmp_path / "flow.py", tmp_path / "log.txt"
    script.write_text(textwrap.dedent(EXITS))

    result = api.run(script, [str(log), "3"], db=db_url)

    assert (result.status, result.reason, result.exit_code) == ("Failed", "exit status 3", 1)
    blocks = api.job_detail(result.job_id, db=db_url)["blocks"]
    assert [(block["name"], block["status"]) for block in blocks] == [("Setup", "Completed"), ("Done", "Failed")]


def test_names_python_reads_nfkc_normalised_come_back_under_that_name(flow) -> None:
    """PEP 3131: `ﬁle` (with the ligature ﬁ) is the variable `file`, and `__ｘ` in a class is `_K__x`."""
    results, log, state = flow(
        """
        with block("Module"):
            ﬁle = 5
            effect("module")
        def run():
            with block("Function"):
                ｃount = 2
                effect("function")
            return count
        class K:
            with block("Class"):
                __ｘ = 3
                effect("class")
        got = run()
        if job.attempt == 1:
            stop("Waiting")
        finish(file=file, count=got, private=K._K__x)
        """
    )
    assert [r.status for r in results] == ["Waiting", "Completed"]
    assert log == ["module", "class", "function"]
    assert state == {"file": 5, "count": 2, "private": 3}


def test_a_replay_runs_the_blocks_imports_again(flow, capsys) -> None:
    """Modules are code, not data: `import a.b` and `from m import Class` in a block are run again."""
    results, log, state = flow(
        """
        with block("Imports"):
            import xml.etree.ElementTree
            from collections import OrderedDict
            import email.mime.text as text
            effect("imports")
            parsed = xml.etree.ElementTree.fromstring("<a>1</a>").text
        if job.attempt == 1:
            stop("Waiting")
        finish(etree=xml.etree.ElementTree.__name__, od=OrderedDict.__name__, text=text.__name__, parsed=parsed)
        """
    )
    assert [r.status for r in results] == ["Waiting", "Completed"]
    assert log == ["imports"]
    assert state == {"etree": "xml.etree.ElementTree", "od": "OrderedDict", "text": "email.mime.text", "parsed": "1"}
    assert "cannot save" not in capsys.readouterr().err


def test_blocks_in_class_bodies_that_their_metaclass_inspects(flow) -> None:
    """Enum (with auto() and Flag), dataclass and NamedTuple bodies: the block's handle is no member,
    field or attribute of the class, on the first attempt or the replay."""
    results, log, state = flow(
        """
        import dataclasses, enum, typing
        class Color(enum.Enum):
            RED = 1
            with block("Color"):
                GREEN = 2
                effect("color")
            BLUE = enum.auto()
        class Perm(enum.Flag):
            R = enum.auto()
            with block("Perm"):
                W = enum.auto()
                effect("perm")
        @dataclasses.dataclass
        class Point:
            x: int = 0
            with block("Point"):
                y: int = 1
                effect("point")
        class Pair(typing.NamedTuple):
            a: int
            with block("Pair"):
                b: int = 2
                effect("pair")
        if job.attempt == 1:
            stop("Waiting")
        finish(
            colors=[(c.name, c.value) for c in Color],
            perms=[(p.name, p.value) for p in Perm],
            point=dataclasses.asdict(Point()),
            pair=Pair(1)._asdict(),
            left=[n for cls in (Color, Perm, Point, Pair) for n in vars(cls) if "psflow" in n],
        )
        """
    )
    assert [r.status for r in results] == ["Waiting", "Completed"]
    assert log == ["color", "perm", "point", "pair"]
    assert state == {
        "colors": [["RED", 1], ["GREEN", 2], ["BLUE", 3]],
        "perms": [["R", 1], ["W", 2]],
        "point": {"x": 0, "y": 1},
        "pair": {"a": 1, "b": 2},
        "left": [],
    }


def test_a_return_a_finally_cancels_with_continue_is_cancelled_on_replay_too(flow) -> None:
    """Plain Python: `continue` in `finally` cancels the block's `return`; the replayed return must be
    cancelled the same way (issue 12 point 10)."""
    results, log, state = flow(
        """
        def first_even(numbers):
            for n in numbers:
                try:
                    with block(f"check-{n}"):
                        effect(f"check {n}")
                        if n == 1:
                            return "returned"
                finally:
                    continue
            return "loop ended"
        found = first_even([1, 2])
        if job.attempt == 1:
            stop("Waiting")
        finish(found=found)
        """
    )
    assert [r.status for r in results] == ["Waiting", "Completed"]
    assert log == ["check 1", "check 2"]
    assert state == {"found": "loop ended"}


def test_a_warning_about_a_block_function_names_the_users_file(flow, tmp_path: Path, capsys) -> None:
    flow(
        """
        import threading
        @block("Lock")
        def make():
            return threading.Lock()
        lock = make()
        """,
        attempts=1,
    )
    err = capsys.readouterr().err
    assert f"psflow: warning: {tmp_path / 'flow.py'}:" in err and "block 'Lock()': cannot save the return value" in err
    assert "psflow/script/block.py" not in err
