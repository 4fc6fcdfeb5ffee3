"""How `psflow exec` and `psflow resume` read their run options, run in this process through psflow.cli.main
(the script runs in this process too). What the options do is tested in tests/service/test_running.py."""

from __future__ import annotations

from pathlib import Path

from psflow.store import Store
from support.running import run
from support.scripts import GATE_AFTER_STEP, STOPS_ONCE, count_of


def test_replay_output_is_read_by_exec_and_resume(cli, store: Store, write) -> None:
    run(store, write("flow.py", GATE_AFTER_STEP), "flow")

    plain = cli("resume", "--job", "flow")
    via_resume = cli("resume", "--job", "flow", "--replay-output")
    via_exec = cli("exec", "flow.py", "--job", "flow", "--replay-output")

    assert plain.stdout == "after step\n"
    assert via_resume.stdout == via_exec.stdout == "step output\nafter step\n"
    assert "psflow: job flow: Waiting — attempt 3, 0 block(s) ran, 1 replayed\n" in via_resume.stderr
    assert (via_exec.returncode, via_resume.returncode) == (3, 0)


def test_rerun_changed_is_read_by_exec_and_resume(cli, store: Store, write, tmp_path: Path) -> None:
    path = write("flow.py", STOPS_ONCE)
    run(store, path, "nightly")
    run(store, path, "later")
    write("flow.py", STOPS_ONCE.replace('count("a")', 'count("a")  # edited'))

    via_exec = cli("exec", "flow.py", "--job", "nightly", "--rerun-changed")
    via_resume = cli("resume", "--job", "later", "--rerun-changed")

    assert (via_exec.returncode, via_resume.returncode) == (0, 0), via_exec.stderr + via_resume.stderr
    assert (count_of(tmp_path, "a"), count_of(tmp_path, "b")) == (4, 2)
