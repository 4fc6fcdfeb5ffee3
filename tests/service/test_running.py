"""psflow.service.running in-process, on every backend: what `psflow exec` refuses before anything
runs, the warnings it announces, and the run options (`--rerun-changed`, `--replay-output`).
A script run here prints to this process's stdout and psflow's notes to its stderr (capsys).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from psflow.errors import AmbiguousJob, ScriptError, UnknownJob, UsageError
from psflow.service import exec_requests, history, running, transcripts
from psflow.service.preflight import check
from psflow.store import Store
from psflow.transform import TransformError
from support.database import snapshot
from support.running import resume, resume_one, run
from support.scripts import GATE_AFTER_STEP, STOPS_ONCE, WARNED, count_of

# ---- what exec refuses: nothing runs, nothing is stored ------------------------------


def _nothing_stored(store: Store) -> None:
    assert store.list_jobs() == []


def test_a_missing_script_or_a_folder_is_refused(store: Store, tmp_path: Path) -> None:
    (tmp_path / "folder.py").mkdir()

    with pytest.raises(ScriptError, match=f"^script not found: {tmp_path / 'nosuch.py'}"):
        exec_requests.exec_request(tmp_path / "nosuch.py")
    with pytest.raises(ScriptError, match="is a directory"):
        exec_requests.exec_request(tmp_path / "folder.py")
    _nothing_stored(store)


SYNTAX_ERRORS = {
    "unclosed paren": ("x = 1\nprint(x\n", 2, 6, "print(x", "was never closed"),
    "shorthand without colon": ('x = 1\nblock "Step1"\n    y = 2\n', 2, 7, 'block "Step1"', "invalid syntax"),
    "shorthand with junk": ('import os\n\nblock "Step1" now:\n    y = 2\n', 3, 7, 'block "Step1" now:', "syntax"),
    "bad indent in block": ('block "Step1":\ny = 2\n', 2, 1, "y = 2", "indented block"),
}


@pytest.mark.parametrize("case", SYNTAX_ERRORS, ids=list(SYNTAX_ERRORS))
def test_a_syntax_error_names_file_line_column_and_the_line(store: Store, tmp_path: Path, case: str) -> None:
    source, line, column, text, message = SYNTAX_ERRORS[case]
    script = tmp_path / "broken.py"
    script.write_text(source)

    with pytest.raises(TransformError) as refused:
        exec_requests.exec_request(script)

    [shown] = [diagnostic.format() for diagnostic in refused.value.diagnostics]
    assert shown.startswith(f"{script}:{line}:{column}: error: syntax error") and message in shown
    assert f"\n    {text}" in shown
    assert refused.value.exit_code == 2
    assert not (tmp_path / "__pycache__").exists()
    _nothing_stored(store)


@pytest.mark.parametrize(
    ("header", "kind"),
    [("with block(42):", "int"), ("with block(b'x'):", "bytes"), ("block 3.5:", None), ("with block(None):", "None")],
)
def test_a_block_name_must_be_a_str(store: Store, tmp_path: Path, header: str, kind: str | None) -> None:
    script = tmp_path / "named.py"
    script.write_text(f"x = 1\n{header}\n    y = 2\n")

    with pytest.raises(TransformError) as refused:
        exec_requests.exec_request(script)

    [shown] = [diagnostic.format() for diagnostic in refused.value.diagnostics]
    expected = f"block name must be a str, not {kind}" if kind else "syntax error"
    assert shown.startswith(f"{script}:2:") and expected in shown and f"\n    {header}" in shown
    _nothing_stored(store)


def test_a_script_with_errors_is_refused_before_it_runs(store: Store, write, tmp_path: Path) -> None:
    path = write("dup.py", 'with block("A"):\n    open("ran", "w").close()\nwith block("A"):\n    pass\n')

    with pytest.raises(TransformError) as refused:
        run(store, path)

    [shown] = [diagnostic.format() for diagnostic in refused.value.diagnostics]
    assert shown.startswith(f"{path}:3:12: error: block name 'A' is used twice on one path (first at line 1)")
    assert "\n    fix: give each block its own name" in shown
    assert not (tmp_path / "ran").exists()
    _nothing_stored(store)


@pytest.mark.parametrize("job_id", ["has space", "-dash-first", "x" * 65, "semi;colon"])
def test_an_invalid_chosen_job_id_is_refused(store: Store, write, job_id: str) -> None:
    path = write("ok.py", "print('ran')\n")

    with pytest.raises(UsageError, match=f"^job id {job_id!r} is not valid: use letters, digits"):
        run(store, path, job_id)
    _nothing_stored(store)


def test_resume_of_an_unknown_or_ambiguous_id_runs_nothing(store: Store, write, db_url: str) -> None:
    path = write("wait.py", "stop('Waiting')\n")
    for job_id in ("nightly-1", "nightly-2"):
        run(store, path, job_id)
    before = snapshot(db_url)

    with pytest.raises(UnknownJob, match=r"^no job with id 'nosuch'"):
        resume(store, "nosuch")
    with pytest.raises(AmbiguousJob) as ambiguous:
        resume(store, "nightly")

    assert str(ambiguous.value).startswith("job id prefix 'nightly' is ambiguous (nightly-1, nightly-2, …)")
    assert snapshot(db_url) == before


def test_exec_announces_the_check_warnings_then_runs(store: Store, write, capsys) -> None:
    path = write("warned.py", WARNED.replace('block "Deploy"', 'block f"Deploy-{host}"'))
    told: list[str] = []

    result = run(store, path, announce=told.append)

    assert result.status == "Completed"
    assert told[0].startswith(f"{path}:6:7: warning: block 'Step1' changes `log` in place")
    assert told[1].startswith(f"{path}:13:4: warning: this if test uses `pick`")
    assert len(told) == 2  # no "block name 'Deploy'" warning: each pass has its own name now
    assert "web01\nweb02\n" in capsys.readouterr().out  # ("extra" too, if random picked "a")


def test_a_first_attempt_reads_no_blocks_a_later_one_replays_them(
    store: Store, write, tmp_path: Path, monkeypatch
) -> None:
    """Attempt 1 of a job has nothing to replay (no attempt before it wrote a block): one query less."""
    reads = []
    completed = store.completed_blocks
    monkeypatch.setattr(store, "completed_blocks", lambda job_id: reads.append(job_id) or completed(job_id))
    write("flow.py", STOPS_ONCE)

    first = run(store, Path("flow.py"))
    assert (first.status, reads) == ("Waiting", [])
    [second] = resume(store)

    assert (second.status, second.replayed, reads) == ("Completed", 3, [first.job_id])
    assert (count_of(tmp_path, "a"), count_of(tmp_path, "b")) == (1, 1)


def test_a_worker_reads_the_job_with_its_snapshot(store: Store, write, monkeypatch) -> None:
    """resume_job (a worker's child) checks the signature against the source read with the job: one read."""
    write("flow.py", STOPS_ONCE)
    first = run(store, Path("flow.py"))
    monkeypatch.setattr(store, "job_source", lambda job_id: pytest.fail("the snapshot was read again"))

    assert running.resume_job(store, first.job_id).status == "Completed"


# ---- --rerun-changed -------------------------------------------------------------------


@pytest.fixture
def stopped(store: Store, write) -> str:
    """A job of STOPS_ONCE (flow.py) that stopped Waiting after blocks A, B and C."""
    write("flow.py", STOPS_ONCE)
    first = run(store, Path("flow.py"))
    assert first.status == "Waiting"
    return first.job_id


def test_a_changed_block_replays_with_a_warning_by_default(
    store: Store, stopped: str, write, tmp_path: Path, capsys
) -> None:
    write("flow.py", STOPS_ONCE.replace("b = a + 1", "b = a + 2"))
    capsys.readouterr()

    [result] = resume(store)

    assert (result.job_id, result.status) == (stopped, "Completed")
    assert (
        "psflow: warning: block 'B' changed since it completed in attempt 1; replaying "
        "(use --rerun-changed to run it again)"
    ) in capsys.readouterr().err.splitlines()
    assert (count_of(tmp_path, "a"), count_of(tmp_path, "b"), count_of(tmp_path, "late")) == (1, 1, 1)


def test_rerun_changed_runs_a_changed_block_again_on_resume(
    store: Store, stopped: str, write, tmp_path: Path, capsys
) -> None:
    path = write("flow.py", STOPS_ONCE.replace("b = a + 1", "b = a + 2"))
    new_print = check(path).sites[1].fingerprint
    capsys.readouterr()

    [result] = resume(store, rerun_changed=True)

    assert result.status == "Completed"
    assert "changed since it completed" not in capsys.readouterr().err
    assert (count_of(tmp_path, "a"), count_of(tmp_path, "b"), count_of(tmp_path, "c")) == (1, 2, 1)
    runs = history.job_detail(store, stopped)["runs"]
    assert [(run["name"], run["attempt"]) for run in runs] == [("A", 1), ("B", 1), ("C", 1), ("B", 2), ("Late", 2)]
    assert runs[3]["fingerprint"] == new_print


def test_rerun_changed_on_exec_with_a_chosen_job_id(store: Store, write, tmp_path: Path) -> None:
    write("flow.py", STOPS_ONCE)
    assert run(store, Path("flow.py"), "nightly").status == "Waiting"
    write("flow.py", STOPS_ONCE.replace('count("a")', 'count("a")  # edited'))

    result = run(store, Path("flow.py"), "nightly", rerun_changed=True)

    assert (result.status, result.exit_code) == ("Completed", 0)
    assert (count_of(tmp_path, "a"), count_of(tmp_path, "b")) == (2, 1)


# ---- --replay-output -------------------------------------------------------------------


def test_replay_output_reprints_a_replayed_blocks_output(store: Store, write, capsys) -> None:
    path = write("flow.py", GATE_AFTER_STEP)

    run(store, path, "flow")
    first = capsys.readouterr().out
    resume_one(store, "flow")
    plain = capsys.readouterr().out
    again = resume_one(store, "flow", replay_output=True)
    reprinted = capsys.readouterr().out
    run(store, path, "flow", replay_output=True)
    via_exec = capsys.readouterr().out

    assert first == "step output\nafter step\n"
    assert plain == "after step\n"  # replayed silently by default
    assert reprinted == "step output\nafter step\n"  # in its place, before what follows
    assert via_exec == "step output\nafter step\n"
    assert again.replayed == 1
    # A reprint is not new output: the block's recorded output is still that of attempt 1 only.
    runs = [entry for entry in transcripts.transcript(store, "flow")[1] if entry["kind"] == "block"]
    assert [(run["name"], run["attempt"], run["output"]) for run in runs] == [("step", 1, "step output\n")]


def test_replay_output_on_a_new_job_changes_nothing(store: Store, write, capsys) -> None:
    result = run(store, write("flow.py", GATE_AFTER_STEP), replay_output=True)

    assert (result.status, result.exit_code) == ("Waiting", 3)
    assert capsys.readouterr().out == "step output\nafter step\n"
    assert result.job_id
