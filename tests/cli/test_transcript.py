"""How `psflow logs` prints a transcript and `psflow job` its attempts (psflow.cli.transcript), in plain
text as in a pipe: called in this process with what psflow.service.history gives (capsys)."""

from __future__ import annotations

import re
from pathlib import Path

from psflow.cli.transcript import print_attempts, print_run
from psflow.service import history, inputs, transcripts
from psflow.store import Store
from support.running import code_changed_job, failed_then_fixed, resume, run
from support.scripts import FLAKY

HEADER = re.compile(r"^==> (.+) \(attempt (\d+), (\w+), (\S+), [0-9-]+ [0-9:]+, \d+\.\d{3}s\) <==$")


def headers(text: str) -> list[tuple[str, int, str]]:
    return [(match[1], int(match[2]), match[3]) for match in map(HEADER.match, text.splitlines()) if match is not None]


def test_each_run_prints_a_header_then_its_output_then_its_error(store: Store, tmp_path: Path, capsys) -> None:
    failed_then_fixed(store, tmp_path)
    _, entries = transcripts.transcript(store, "flaky")
    runs = [entry for entry in entries if entry["kind"] == "block"]  # the attempt's end: see the next test

    for entry in runs:
        print_run(entry)

    out = capsys.readouterr().out
    assert headers(out) == [
        ("fetch", 1, "Completed"),
        ("load", 1, "Failed"),
        ("load", 2, "Completed"),
        ("report", 2, "Completed"),
    ]
    host = runs[0]["host"]
    assert all(f", {host}, " in line for line in out.splitlines() if line.startswith("==> "))
    sections = re.split(r"^==> .*<==\n", out, flags=re.MULTILINE)[1:]
    assert sections[0] == "fetched 3 rows\n"
    assert sections[1].startswith("loading 3\nTraceback (most recent call last):\n")  # output, then the error
    assert sections[1].rstrip().endswith("ValueError: bad row 2")
    assert str(tmp_path / "flaky.py") in sections[1]
    assert sections[2] == "loading 3\nloaded\n"
    assert sections[3] == "report done\n"


def test_an_attempt_that_failed_outside_blocks_ends_with_its_traceback(store: Store, write, capsys) -> None:
    script = write(
        "outside.py",
        """
block "Fetch":
    rows = 3
print("checking", rows)
raise ValueError("bad row 2")
""",
    )
    run(store, script, "outside")
    _, entries = transcripts.transcript(store, "outside")
    [ending] = [entry for entry in entries if entry["kind"] == "attempt"]
    capsys.readouterr()

    print_run(ending)

    printed, header, *traceback = capsys.readouterr().out.splitlines()
    assert printed == "checking 3"  # what the attempt printed after its last block, then how it ended
    assert header.startswith("==> attempt 1 ended (Failed: ValueError: bad row 2, ") and header.endswith(" <==")
    assert traceback[0] == "Traceback (most recent call last):" and traceback[-1] == "ValueError: bad row 2"


def _attempt_lines(store: Store, job_id: str, capsys) -> list[str]:
    print_attempts(history.job_detail(store, job_id))
    return capsys.readouterr().out.splitlines()


def test_each_attempt_prints_how_it_ended_and_which_blocks_it_executed_or_replayed(
    store: Store, write, tmp_path: Path, capsys
) -> None:
    run(store, write("flaky.py", FLAKY), "flaky")
    write("flaky.py", FLAKY.replace('print("loaded")', 'print("loaded!")'))  # edited between attempts
    (tmp_path / "fixed").touch()
    resume(store, statuses=["Failed"])
    second = history.job_detail(store, "flaky")["attempt_history"][1]
    capsys.readouterr()

    lines = _attempt_lines(store, "flaky", capsys)

    header = next(line for line in lines if line.startswith("attempt 2: "))
    assert header.startswith("attempt 2: Completed — on ")
    assert f"source {second['source_sha256'][:12]} (changed since the attempt before)" in header
    attempt_1 = next(line for line in lines if line.startswith("attempt 1: "))
    assert attempt_1.startswith("attempt 1: Failed (ValueError: bad row 2)") and "changed" not in attempt_1
    table = lines[lines.index(header) + 1 :]
    assert table[0].split() == ["BLOCK", "RAN", "STATUS", "DURATION", "TRIES", "HOST", "NOTE"]
    assert table[1].split() == ["fetch", "replayed", "Completed", "-", "-", "-", "from", "attempt", "1"]
    assert table[2].split()[:3] == ["load", "executed", "Completed"]


def test_a_block_whose_code_changed_says_so(store: Store, capsys) -> None:
    code_changed_job(store, "coded")

    lines = _attempt_lines(store, "coded", capsys)

    load = next(line for line in lines if line.startswith("load ") and "executed  Completed" in line)
    assert load.rstrip().endswith("code changed")
    assert sum(line.rstrip().endswith("code changed") for line in lines) == 1


def test_an_attempt_lists_the_inputs_it_newly_received(store: Store, write, capsys) -> None:
    run(store, write("approve.py", 'print("approved by", wait_for("approval"))\n'), "approve")
    inputs.send(store, "approve", {"approval": "alice"})
    resume(store)
    capsys.readouterr()

    assert "  inputs received before it: approval" in _attempt_lines(store, "approve", capsys)
