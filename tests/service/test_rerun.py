"""psflow.service.control.rerun in-process, on every backend: blocks run again on the next attempt,
exactly those (and what encloses them), and their earlier runs stay in the history. Bad input changes
nothing. What `psflow rerun` prints is in tests/cli/test_commands_control.py and tests/e2e/test_rerun.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from psflow.errors import AmbiguousJob, UnknownJob, UsageError
from psflow.service import control, history, transcripts
from psflow.service.control import RerunResult
from psflow.store import Store
from support.checkpoints import GATED, at
from support.database import snapshot
from support.running import held_elsewhere, resume, resume_one, run
from support.scripts import CHAIN, NESTED, counts


def _completed(store: Store, write, name: str, source: str) -> str:
    write(f"{name}.py", source)
    assert run(store, Path(f"{name}.py"), name).status == "Completed"
    return name


@pytest.fixture
def chain(store: Store, write) -> str:
    return _completed(store, write, "chain", CHAIN)


@pytest.fixture
def nested(store: Store, write) -> str:
    return _completed(store, write, "nested", NESTED)


def test_rerun_from_runs_that_block_and_every_later_one_again(store: Store, chain: str, tmp_path: Path, capsys) -> None:
    marked = control.rerun(store, chain, from_block="b")

    assert marked == RerunResult("chain", ["b", "c", "d"], [], "Completed", "Waiting")
    assert store.get_job(chain).status == "Waiting"
    capsys.readouterr()
    [resumed] = resume(store)
    assert resumed.exit_code == 0
    assert counts(tmp_path) == {"a": 1, "b": 2, "c": 2, "d": 2}
    assert capsys.readouterr().out == "b ran\nc ran\nd ran with 20\nvalue is 20\n"
    job = history.job_detail(store, chain)
    assert (job["status"], job["attempts"]) == ("Completed", 2)
    # The first runs stay in the history, marked Rerun.
    assert [(run["name"], run["attempt"], run["status"]) for run in job["runs"]] == [
        ("a", 1, "Completed"),
        ("b", 1, "Rerun"),
        ("c", 1, "Rerun"),
        ("d", 1, "Rerun"),
        ("b", 2, "Completed"),
        ("c", 2, "Completed"),
        ("d", 2, "Completed"),
    ]
    second = job["attempt_history"][1]["blocks"]
    assert [(block["name"], block["state"], block["attempt"]) for block in second] == [
        ("a", "replayed", 1),
        ("b", "executed", 2),
        ("c", "executed", 2),
        ("d", "executed", 2),
    ]
    _, runs_of_d = transcripts.transcript(store, chain, block="d")
    assert [run["output"] for run in runs_of_d] == ["d ran with 10\n", "d ran with 20\n"]


def test_rerun_only_runs_one_block_and_later_blocks_stay_replayed(
    store: Store, chain: str, tmp_path: Path, capsys
) -> None:
    marked = control.rerun(store, chain, only=["c"])
    capsys.readouterr()
    resume_one(store, chain)

    assert marked.marked == ["c"] and marked.enclosing == []
    assert counts(tmp_path) == {"a": 1, "b": 1, "c": 2, "d": 1}
    # "d" is replayed (its output is not printed again); the script after it sees c's new value.
    assert capsys.readouterr().out == "c ran\nvalue is 20\n"
    assert [(run["name"], run["status"]) for run in history.job_detail(store, chain)["blocks"]] == [
        ("a", "Completed"),
        ("b", "Completed"),
        ("c", "Completed"),
        ("d", "Completed"),
    ]


def test_rerun_only_takes_several_blocks(store: Store, chain: str, tmp_path: Path) -> None:
    assert control.rerun(store, chain, only=["a", "d"]).marked == ["a", "d"]
    assert resume(store)[0].exit_code == 0

    assert counts(tmp_path) == {"a": 2, "b": 1, "c": 1, "d": 2}


def test_rerun_of_an_inner_block_reruns_the_block_around_it(store: Store, nested: str, tmp_path: Path) -> None:
    marked = control.rerun(store, nested, only=["inner"])
    assert resume(store)[0].exit_code == 0

    assert (marked.marked, marked.enclosing) == (["outer", "inner"], ["outer"])
    # "outer" runs again so that "inner" can; "sibling" inside it is replayed.
    assert counts(tmp_path) == {"after": 1, "before": 1, "inner": 2, "outer": 2, "sibling": 1}


def test_rerun_from_an_outer_block_includes_the_blocks_inside_it(store: Store, nested: str, tmp_path: Path) -> None:
    marked = control.rerun(store, nested, from_block="outer")
    assert resume(store)[0].exit_code == 0

    assert marked.marked == ["outer", "sibling", "inner", "after"] and marked.enclosing == []
    assert counts(tmp_path) == {"after": 2, "before": 1, "inner": 2, "outer": 2, "sibling": 2}


def test_rerun_of_a_failed_job_puts_it_back_to_waiting(store: Store, write, tmp_path: Path) -> None:
    write("fails.py", CHAIN + '    raise SystemExit("after d")\n')
    assert run(store, Path("fails.py"), "fails").status == "Failed"

    marked = control.rerun(store, "fails", from_block="c")

    assert (marked.status_before, marked.status) == ("Failed", "Waiting")
    assert (store.get_job("fails").status, store.get_job("fails").reason) == ("Waiting", "rerun from c")
    [again] = resume(store)
    assert (again.status, again.exit_code) == ("Failed", 1)  # fails again, after running c and d once more
    assert counts(tmp_path) == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_rerun_of_a_waiting_job_keeps_its_status(store: Store, write, tmp_path: Path) -> None:
    write("waits.py", CHAIN + '    if not Path("go").exists():\n        stop("Waiting", reason="not yet")\n')
    assert run(store, Path("waits.py"), "waits").status == "Waiting"

    marked = control.rerun(store, "waits", only=["b"])

    assert (marked.status_before, marked.status) == ("Waiting", "Waiting")
    job = store.get_job("waits")
    assert (job.status, job.reason) == ("Waiting", "not yet")
    (tmp_path / "go").touch()
    assert resume(store)[0].exit_code == 0
    assert counts(tmp_path) == {"a": 1, "b": 2, "c": 1, "d": 1}


# ---- bad input: a message, nothing changed ------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"from_block": "B"},
            "job chain has no block 'B' (block names are case-sensitive): its blocks are a, b, c, d",
        ),
        (
            {"only": ["nope"]},
            "job chain has no block 'nope' (block names are case-sensitive): its blocks are a, b, c, d",
        ),
        (
            {"only": ["a", "zz"]},
            "job chain has no block 'zz' (block names are case-sensitive): its blocks are a, b, c, d",
        ),
        (
            {"from_block": "b", "only": ["c"]},
            "give either --from BLOCK (it and every block completed after it) or --only BLOCK, not both",
        ),
        ({}, "say which blocks to run again: --from BLOCK or --only BLOCK"),
    ],
    ids=["unknown-from", "unknown-only", "one-of-two-unknown", "from-and-only", "neither"],
)
def test_bad_rerun_changes_nothing(store: Store, chain: str, db_url: str, options: dict, message: str) -> None:
    before = snapshot(db_url)

    with pytest.raises(UsageError) as refused:
        control.rerun(store, chain, **options)

    assert str(refused.value) == message
    assert snapshot(db_url) == before


def test_rerun_of_a_block_that_never_completed_changes_nothing(store: Store, write, db_url: str) -> None:
    write("gate.py", 'with block("Gate"):\n    stop("Waiting")\n')
    run(store, Path("gate.py"), "gate")
    before = snapshot(db_url)

    with pytest.raises(UsageError, match=r"^job gate: the chosen block.s. have no completed run to redo: "):
        control.rerun(store, "gate", only=["Gate"])
    assert snapshot(db_url) == before


def test_rerun_of_a_cancelled_job_or_unknown_id_changes_nothing(store: Store, chain: str, write, db_url: str) -> None:
    write("wait.py", "stop('Waiting')\n")
    run(store, Path("wait.py"), "chained")
    control.cancel(store, "chained")
    before = snapshot(db_url)

    with pytest.raises(UsageError, match=r"^job chained was cancelled: it never runs again; start a new job instead$"):
        control.rerun(store, "chained", only=["a"])
    with pytest.raises(UnknownJob, match="no job with id 'nope'"):
        control.rerun(store, "nope", only=["a"])
    with pytest.raises(AmbiguousJob, match="ambiguous"):
        control.rerun(store, "ch", only=["a"])
    assert snapshot(db_url) == before


def test_rerun_of_a_running_job_is_refused(store: Store, clock, db_url: str) -> None:
    held_elsewhere(store, "busy")
    before = snapshot(db_url)

    with pytest.raises(UsageError) as refused:
        control.rerun(store, "busy", only=["started"])

    assert str(refused.value) == (
        "job busy is Running on server2 (pid 4242); its lease runs out in 60s if that runner is gone: "
        "psflow cannot change its blocks while it runs; wait for it to end"
    )
    assert snapshot(db_url) == before


def test_a_running_job_carries_on_after_a_refused_rerun(store: Store, write, db_url: str) -> None:
    write("gated.py", GATED)
    refusals: list[str] = []

    def rerun_now() -> None:
        before = snapshot(db_url)
        with pytest.raises(UsageError, match="cannot change its blocks while it runs") as refused:
            control.rerun(store, "busy", only=["started"])
        refusals.append(str(refused.value))
        assert snapshot(db_url) == before

    with at("gated", rerun_now):
        result = run(store, Path("gated.py"), "busy")

    assert len(refusals) == 1 and (result.status, result.exit_code) == ("Completed", 0)
