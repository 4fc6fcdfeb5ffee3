"""Scripts the tests run, with counters of their side effects, and jobs held Running behind a gate file."""

from __future__ import annotations

import json
import select
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from support.cli import start as start_psflow
from support.database import block_rows

# Each block counts its runs in a file named after it, and prints something of its own.
COUNTED = """
    from pathlib import Path

    def bump(name):
        counter = Path(f"count-{name}")
        counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
        return int(counter.read_text())
"""

# Completed, Waiting ("approval pending"), and Failed until the file `fixed` exists (its blocks counted).
DONE = 'with block("Step"):\n    print("done")\n'
WAITS = 'with block("Step"):\n    print("step")\nstop("Waiting", reason="approval pending")\n'
FAILS = (
    COUNTED
    + """
    block "Step":
        bump("Step")
    block "Flaky":
        bump("Flaky")
        if not Path("fixed").exists():
            raise RuntimeError("not yet")
"""
)

# Four blocks in a row; each counts its runs. "c" binds a value "d" prints.
CHAIN = (
    COUNTED
    + """
    block "a":
        bump("a")
        print("a ran")
    block "b":
        bump("b")
        print("b ran")
    block "c":
        value = bump("c") * 10
        print("c ran")
    block "d":
        bump("d")
        print("d ran with", value)
    print("value is", value)
"""
)

# "sibling" and "inner" run inside "outer".
NESTED = (
    COUNTED
    + """
    block "before":
        bump("before")
    block "outer":
        bump("outer")
        block "sibling":
            bump("sibling")
        block "inner":
            bump("inner")
    block "after":
        bump("after")
"""
)

# Every block body run is counted in `<block>.count`; attempt 1 stops Waiting after "C".
# Blocks start on lines 7 (A), 11 (B), 15 (C) and 19 (Late).
STOPS_ONCE = """
    from pathlib import Path

    def count(name):
        path = Path(name + ".count")
        path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))

    block "A":
        count("a")
        a = 1

    block "B":
        count("b")
        b = a + 1

    block "C":
        count("c")

    if job.attempt == 1:
        stop("Waiting")

    block "Late":
        count("late")
"""

# Two blocks, nothing for `psflow check` to say: "Step1" (line 5) and f"deploy-{host}" (line 9).
CLEAN = """
    import os

    server = os.environ.get("SQL_SERVER", "db01")

    block "Step1":
        rows = len(server)

    for host in ["web01", "web02"]:
        with block(f"deploy-{host}"):
            print("deploy", host, rows)
"""

# One of each warning psflow check gives, each on a line of its own (6:7, 10:11, 13:4).
WARNED = """
    import random

    pick = random.choice(["a", "b"])
    log = open("run.log", "a")

    block "Step1":
        log.write("step1\\n")

    for host in ["web01", "web02"]:
        block "Deploy":
            print(host)

    if pick == "a":
        with block("Extra"):
            print("extra")
"""


def write_versioned(folder: Path, version: str) -> Path:
    """VERSIONED for `version` as `folder/flow.py` (over what was there); its path."""
    return write_script(folder, "flow.py", VERSIONED.format(version=version))


def count_of(folder: Path, name: str) -> int:
    """How many times STOPS_ONCE's block `name` ran (its `<name>.count` file)."""
    path = folder / f"{name}.count"
    return int(path.read_text()) if path.exists() else 0


# Attempt 1 fails in "load" (after printing); once the file `fixed` exists, the next attempt completes.
FLAKY = (
    COUNTED
    + """
    block "fetch":
        bump("fetch")
        rows = 3
        print(f"fetched {rows} rows")

    block "load":
        bump("load")
        print("loading", rows)
        if not Path("fixed").exists():
            raise ValueError("bad row 2")
        print("loaded")

    block "report":
        bump("report")
        print("report done")
"""
)

# Attempt 1 runs "b-first" then stops; attempt 2 runs "a-second" before replaying "b-first",
# so the order blocks first ran differs from both name order and the order of attempt 2.
ORDERED = """
    if job.attempt > 1:
        with block("a-second"):
            pass
    with block("b-first"):
        pass
    if job.attempt == 1:
        stop("Waiting", reason="see you")
    with block("c-third"):
        pass
"""

# Prints in block "step" and after it; stops Waiting until the file `go` exists.
GATE_AFTER_STEP = """
    from pathlib import Path

    block "step":
        print("step output")
    print("after step")
    if not Path("go").exists():
        stop("Waiting")
"""


# A workflow's source: VERSIONED.format(version="v1") prints which version ran (and which prepared the
# job), then stops Waiting until `<job id>.go` exists in the folder it runs in.
VERSIONED = """
    from pathlib import Path

    with block("Prepare"):
        prepared = "{version}"
    print("running {version}, prepared by", prepared)
    if not Path(f"{{job.id}}.go").exists():
        stop("Waiting", reason="no go yet")
    with block("Finish"):
        pass
"""


# Held Running until the test creates the file `gate`.
GATED = """
    import time
    from pathlib import Path

    with block("started"):
        print("started")
    with block("gated"):
        while not Path("gate").exists():
            time.sleep(0.05)
        print("through the gate")
    with block("last"):
        print("last")
"""


def write_script(folder: Path, name: str, source: str) -> Path:
    """A dedented script `name` in `folder`; its path."""
    path = folder / name
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


def counts(folder: Path) -> dict[str, int]:
    """{block: how many times its body ran}, from the COUNTED counter files."""
    return {path.name[len("count-") :]: int(path.read_text()) for path in sorted(folder.glob("count-*"))}


def detail(psflow, job_id: str) -> dict:
    """What `psflow job ID --json` prints, read in this process (the same psflow.service.history.job_detail,
    through the Python API): a test's look at a job costs no command start-up, a quarter of a second.
    The command's own output is tested where it is the subject (test_jobs, test_queues, test_signing)."""
    from psflow import api

    return json.loads(json.dumps(api.job_detail(job_id, db=psflow.db_url)))


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def next_line(stream, timeout: float = 60, what: str = "a line") -> str:
    """The next line a process writes to its text pipe `stream`, waiting for it at most `timeout` seconds."""
    if not select.select([stream], [], [], timeout)[0]:
        raise AssertionError(f"timed out waiting for {what}")
    return stream.readline()


def start(psflow, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`psflow ARGS` in the background, on this test's database."""
    return start_psflow(psflow.db_url, tmp_path, *args, env=env)


def start_gated(psflow, write, tmp_path: Path, job_id: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Job `job_id` Running (block "started" recorded), held in block "gated" until `tmp_path/gate` exists."""
    write("gated.py", GATED)
    process = start(psflow, tmp_path, "exec", "gated.py", "--job", job_id, env=env)
    wait_until(
        lambda: process.poll() is not None or block_rows(psflow.db_url, job_id, "started") == 1,
        what="the gated job to start",
    )
    assert process.poll() is None, process.communicate()
    return process
