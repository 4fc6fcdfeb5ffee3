"""Fan-out: child jobs through `psflow worker`, on SQLite and PostgreSQL (`bench_fanout.py --only children`).

    python bench/bench_children.py
    python bench/bench_children.py --children 400 --no-postgres

children: a parent starts N child jobs (`start("child.py", n)`, each sets `job.result`) and
`wait_jobs` them; two `psflow worker` processes (the real command, --poll 0.1) run them. Printed:
how long the parent's first attempt took to create the N children; child jobs per second from the
first child's start to the last child's end (from the attempt rows: worker start-up left out); and
the parent's wake-up latency, from the end of its last child's attempt to the start of its own
next attempt (target: at most one poll interval). Numbers only, no assertions.

job: one child job as a worker process runs it, in this process (up to 300 of them): its time and
the statements it sends.

wake: what the end of each child costs its transaction to ask whether its waiting parent has an
awaited child left, for parents of 400, 2,000 and 10,000 children (in this process).

PostgreSQL is a throwaway local cluster (tests/support/postgres.py) with fsync off: its figures
show psflow's own cost, not a durable server's disk. SQLite uses the default synchronous=FULL.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backends import on_each_backend
from peewee import chunked, fn

from psflow.domain import WAITS_FOR_CHILDREN, Runner
from psflow.service.running import resume_job
from psflow.store import Store, open_store
from psflow.store.children import wake_parent_of

POLL = 0.1
RUNNER = Runner("bench", os.getpid(), 60.0)
CHILD = """\
import sys
job.result = int(sys.argv[1]) * 2
"""
PARENT = """\
import sys
children = [start("child.py", n) for n in range(int(sys.argv[1]))]
job.result = sum(wait_jobs(children))
"""


def _psflow(url: str, folder: Path, *args: str, background: bool = False):
    command = [str(Path(sys.executable).with_name("psflow")), *args]
    env = {**os.environ, "PSFLOW_DB": url, "NO_COLOR": "1"}
    if background:
        return subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)


def _parent_done(store: Store) -> bool:
    job = store.get_job("fan")
    return job is not None and job.status == "Completed"


def children_section(name: str, url: str, folder: Path, count: int) -> None:
    (folder / "child.py").write_text(CHILD)
    (folder / "parent.py").write_text(PARENT)
    began = time.perf_counter()
    first = _psflow(url, folder, "exec", "parent.py", str(count), "--job", "fan")
    created = time.perf_counter() - began
    if first.returncode != 3:
        raise SystemExit(f"psflow exec failed:\n{first.stderr[-2000:]}")
    workers = [_psflow(url, folder, "worker", "--poll", str(POLL), background=True) for _ in range(2)]
    store = open_store(url)
    try:
        deadline = time.monotonic() + 600
        while not _parent_done(store):
            if time.monotonic() > deadline:
                raise SystemExit("the parent did not complete in 10 minutes")
            time.sleep(0.2)
        Attempt, Job = store.tables.attempt, store.tables.job
        children = Attempt.select(fn.MIN(Attempt.started_at), fn.MAX(Attempt.ended_at), fn.COUNT(Attempt.id)).join(
            Job, on=(Attempt.job == Job.id)
        )
        first_start, last_end, attempts = children.where(Job.parent == "fan").tuples().get()
        woke = Attempt.select(Attempt.started_at).where((Attempt.job == "fan") & (Attempt.number == 2)).scalar()
    finally:
        store.close()
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=120)
    span = last_end - first_start
    print(
        f"{name:10s} {count} child jobs: created by the parent in {created:5.2f} s (whole command); "
        f"run through 2 workers in {span:5.2f} s = {count / span:6.1f} child jobs/s "
        f"({attempts} attempts); parent woke {1000 * (woke - last_end):5.0f} ms after its last child ended "
        f"(poll {1000 * POLL:.0f} ms)"
    )


def wake_section(name: str, url: str, siblings: int) -> None:
    """The check each child's end makes (in its transaction): does its waiting parent have an awaited
    child left? With `siblings` awaited children, all ended but one: one probe of the index of unended
    children whatever their number (schema 6; before, a walk through every child the parent had)."""
    store = open_store(url)
    try:
        store.create_job("p", name="p", script="/p.py", source="", source_sha256="0" * 64, args=[], runner=RUNNER)
        Job = store.tables.job
        row = {"name": "c", "script": "/c.py", "source": "", "source_sha256": "0" * 64, "args": "[]", "attempts": 1}
        rows = [
            {**row, "id": f"p.{n}", "status": "Completed" if n < siblings else "Queued", "created_at": n}
            | {"updated_at": n, "parent": "p", "awaited": True, "queue": "default", "priority": 0}
            for n in range(1, siblings + 1)
        ]
        with store.db.atomic():
            for batch in chunked(rows, 500):
                Job.insert_many(batch).execute()
        Job.update(status="Waiting", waits_for=WAITS_FOR_CHILDREN, due_at=None).where(Job.id == "p").execute()
        checks = 200
        began = time.perf_counter()
        for _ in range(checks):
            with store.db.atomic():
                wake_parent_of(store, f"p.{siblings - 1}")
        each = (time.perf_counter() - began) / checks
    finally:
        store.close()
    print(f"{name:10s} wake-up check at the end of a child of {siblings:6d}: {1000 * each:6.2f} ms")


def job_section(name: str, url: str, folder: Path, count: int) -> None:
    """One child job as a worker process runs it (claim, run, end, wake its parent), in this process, job
    after job: milliseconds of wall and CPU time a job, and the statements each sends (BEGIN and COMMIT
    not counted). What bounds child jobs per second, without the workers' processes and looks."""
    (folder / "child.py").write_text(CHILD)
    (folder / "parent.py").write_text(PARENT)
    if _psflow(url, folder, "exec", "parent.py", str(count), "--job", "fan").returncode != 3:
        raise SystemExit("psflow exec of the parent failed")
    here = os.getcwd()
    os.chdir(folder)
    store = open_store(url)
    try:
        resume_job(store, "fan.1")  # connects, builds the prebuilt statements
        sent: list[str] = []
        execute = store.db.execute_sql
        store.db.execute_sql = lambda sql, params=None: sent.append(sql) or execute(sql, params)
        began, cpu = time.perf_counter(), time.process_time()
        for number in range(2, count + 1):
            resume_job(store, f"fan.{number}")
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        store.close()
        os.chdir(here)
    jobs = count - 1
    print(
        f"{name:10s} a child job in one process: {1000 * wall / jobs:5.2f} ms ({1000 * cpu / jobs:5.2f} ms CPU), "
        f"{len(sent) / jobs:.1f} statements"
    )


def measure(name: str, make_url, sections: list[str], options: argparse.Namespace) -> None:
    if "children" in sections:
        with tempfile.TemporaryDirectory() as tmp:
            children_section(name, make_url(Path(tmp), "children"), Path(tmp), options.children)
    if "job" in sections:
        with tempfile.TemporaryDirectory() as tmp:
            job_section(name, make_url(Path(tmp), "job"), Path(tmp), min(options.children, 300))
    if "wake" in sections:
        for siblings in (400, 2000, 10000):
            with tempfile.TemporaryDirectory() as tmp:
                wake_section(name, make_url(Path(tmp), f"wake{siblings}"), siblings)


SECTIONS = ("children", "job", "wake")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=SECTIONS, action="append", help="Run only this section (repeatable).")
    parser.add_argument("--children", type=int, default=400, help="Child jobs the parent starts.")
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    sections = options.only or list(SECTIONS)
    print(f"psflow fan-out ({os.cpu_count()} cores): {', '.join(sections)}")
    on_each_backend(lambda name, make_url: measure(name, make_url, sections, options), postgres=not options.no_postgres)


if __name__ == "__main__":
    main()
