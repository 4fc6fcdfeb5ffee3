"""Issue 12's reproducers through the real `psflow`: a script run by plain Python (with a file `go`
present), by `psflow exec` (without it: the script stops Waiting after its blocks) and by `psflow
resume` once `go` exists must print the same, and each block body must run once across attempts.
The blocks change outer objects in every way the patch model redoes (points 1-4)."""

from __future__ import annotations

import subprocess
import sys

from support.cli import job_id_of
from support.database import forge

SCRIPT = """
    import bisect, heapq, random
    from pathlib import Path
    from psflow import block, stop

    go = Path("go").exists()

    def ran(name):
        with open("ran.log", "a") as log:
            print(name, file=log)

    class Box:
        pass

    class Config:
        debug = False

    class Account:
        def __init__(self):
            self.balance = 0

        @block("Deposit")
        def deposit(self, amount):
            ran("Deposit")
            self.balance += amount

    def add(items, item):
        items.append(item)

    settings = {"source": "edited" if go else "original"}
    box, account, pair = Box(), Account(), ([], "fixed")
    results, heap, deck, ordered = [], [5, 1, 8], list(range(8)), [1, 3, 5]
    inner = [0]
    outer = {"k": inner}
    with block("Change"):
        ran("Change")
        settings.setdefault("retries", 3)
        box.value = 1
        Config.debug = True
        pair[0].append("x")
        add(results, 1)
        heapq.heappush(heap, 0)
        random.Random(7).shuffle(deck)
        bisect.insort(ordered, 4)
        outer["k"].append(1)
        alias = results
    account.deposit(5)
    alias.append(2)
    print(settings, vars(box), Config.debug, pair, results, heap, deck, ordered, inner is outer["k"], inner)
    print(account.balance)
    if not go:
        stop("Waiting")
"""


def test_plain_python_a_first_attempt_and_a_replay_print_the_same(psflow, write, tmp_path) -> None:
    script = write("changes.py", SCRIPT)
    (tmp_path / "go").touch()
    plain = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    (tmp_path / "go").unlink()
    (tmp_path / "ran.log").unlink()
    first = psflow("exec", "changes.py")
    assert first.returncode == 3, first.stderr
    (tmp_path / "go").touch()
    replay = psflow("resume")
    assert replay.returncode == 0, replay.stderr
    # the first attempt ran with the original settings: only the source differs, as in plain Python
    assert first.stdout == plain.stdout.replace("'edited'", "'original'")
    assert replay.stdout == plain.stdout
    assert (tmp_path / "ran.log").read_text().split() == ["Change", "Deposit"]
    told = first.stderr + replay.stderr  # (an Account argument keys the @block call by its type: said, and fine)
    assert not any(loss in told for loss in ("cannot save", "cannot redo", "cannot watch", "given back as a copy"))


def test_changes_recorded_in_a_row_edited_by_hand_fail_the_replay_in_one_clear_line(psflow, write) -> None:
    write("fill.py", 'rows = []\nwith block("Fill"):\n    rows.append(1)\nif job.attempt == 1:\n    stop("Waiting")\n')
    first = psflow("exec", "fill.py")
    assert first.returncode == 3, first.stderr
    job_id = job_id_of(first)
    for forged in (
        '{"@patches":{"rows":{"kind":"list","length":0,"items":[5]}}}',
        '{"@patches":{"rows":{"kind":"x"}}}',
    ):
        forge(psflow.db_url, "psflow_block", {"job_id": job_id, "name": "Fill"}, mutated=forged)
        replay = psflow("resume", "--job", job_id)
        assert replay.returncode == 1, replay.stderr
        assert "cannot redo the block's recorded changes: they are not as psflow writes them" in replay.stderr
        assert "was the row edited?" in replay.stderr
