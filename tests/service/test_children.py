"""Child jobs in this process, on every backend: `start()` creates them once, `wait_jobs()` stops the
parent until the last one ends — and the transaction that ends it makes the parent due —, results,
failures, timeouts, cancel cascades, `rm` of a child, bad input, and signing (psflow.service.children)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from psflow import api, keys
from psflow.domain import WAITS_FOR_CHILDREN, JobStatus, Runner
from psflow.errors import EXIT_USAGE
from psflow.service import control, history
from psflow.signing import keys_folder, public_key
from psflow.store import Store
from support.running import resume_one, run
from support.scripts import write_script

CHILD = """
    import sys
    from pathlib import Path
    n = int(sys.argv[1])
    Path(f"child-{n}.ran").write_text(str(int(Path(f"child-{n}.ran").read_text()) + 1 if Path(f"child-{n}.ran").exists() else 1))
    if n < 0:
        raise ValueError(f"no negative hosts: {n}")
    job.result = {"host": n, "square": n * n}
"""

PARENT = """
    import sys
    hosts = [int(arg) for arg in sys.argv[1:]]
    children = [start("child.py", host) for host in hosts]
    results = wait_jobs(children)
    job.result = [result["square"] for result in results]
"""


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    write_script(tmp_path, "child.py", CHILD)
    write_script(tmp_path, "parent.py", PARENT)
    return tmp_path


def _status(store: Store, job_id: str) -> str:
    job = store.get_job(job_id)
    assert job is not None
    return job.status


def _due(store: Store, job_id: str) -> bool:
    job = store.get_job(job_id)
    assert job is not None
    return job.due_at is not None and job.due_at <= store.clock.now()


def test_a_parent_waits_for_its_children_and_gets_their_results_in_order(store: Store, scripts: Path) -> None:
    first = run(store, scripts / "parent.py", "p", ["3", "1", "2"])

    assert (first.status, first.reason, first.exit_code) == ("Waiting", "waiting for 3 of 3 child jobs", 3)
    parent = store.get_job("p")
    assert parent is not None and (parent.waits_for, parent.due_at) == (WAITS_FOR_CHILDREN, None)
    children = store.children("p")
    assert [(child.id, child.status, child.args, child.awaited) for child in children] == [
        ("p.1", "Queued", ("3",), True),
        ("p.2", "Queued", ("1",), True),
        ("p.3", "Queued", ("2",), True),
    ]
    assert [store.get_job(child.id).parent for child in children] == ["p", "p", "p"]  # type: ignore[union-attr]

    resume_one(store, "p.1")
    resume_one(store, "p.3")
    [listed] = [job for job in history.jobs(store) if job["id"] == "p"]
    assert listed["waits"] == "1 of 3 child jobs"
    assert not _due(store, "p")
    assert "waiting for its child jobs to end" in (resume_one(store, "p").note or "")

    resume_one(store, "p.2")  # the last one: its end makes the parent due, in the same transaction
    assert _due(store, "p")
    done = resume_one(store, "p")

    assert (done.status, done.attempt) == ("Completed", 2)
    assert api.job_result("p", store=store) == [9, 1, 4]
    assert api.job_result("p.1", store=store) == {"host": 3, "square": 9}
    assert [store.get_job(child.id).attempts for child in children] == [1, 1, 1]  # type: ignore[union-attr]


def test_children_that_ended_before_the_parent_waits_give_their_results_at_once(store: Store, tmp_path: Path) -> None:
    write_script(tmp_path, "child.py", CHILD)
    write_script(
        tmp_path,
        "parent.py",
        """
        children = [start("child.py", n) for n in (2, 3)]
        if job.attempt == 1:
            stop("Waiting", reason="let the children run first")
        job.result = wait_jobs(children)
        """,
    )
    run(store, tmp_path / "parent.py", "p")
    resume_one(store, "p.1")
    resume_one(store, "p.2")

    done = resume_one(store, "p")

    assert (done.status, done.attempt) == ("Completed", 2)
    assert api.job_result("p", store=store) == [{"host": 2, "square": 4}, {"host": 3, "square": 9}]
    assert [child.id for child in store.children("p")] == ["p.1", "p.2"]  # not started again
    assert (tmp_path / "child-2.ran").read_text() == "1"


def test_a_resumed_parent_gets_the_same_handles_and_never_starts_a_child_twice(store: Store, tmp_path: Path) -> None:
    write_script(tmp_path, "child.py", CHILD)
    write_script(
        tmp_path,
        "parent.py",
        """
        from pathlib import Path
        with block("Prepare"):
            first = start("child.py", 1)
        second = start("child.py", 2)
        Path(f"handles-{job.attempt}").write_text(f"{first.id} {second.id}")
        if job.attempt < 3:
            stop("Waiting")
        """,
    )
    for _ in range(3):
        resume_one(store, "p") if store.get_job("p") else run(store, tmp_path / "parent.py", "p")

    in_block = keys.child_id("p", "Prepare/job:start")  # counted in its block: a replayed block shifts nothing
    assert [(tmp_path / f"handles-{n}").read_text() for n in (1, 2, 3)] == [f"{in_block} p.1"] * 3
    assert [child.id for child in store.children("p")] == [in_block, "p.1"]
    assert _status(store, "p") == "Completed"


def test_a_parent_that_died_after_creating_a_child_finds_it_again(store: Store, scripts: Path) -> None:
    """The child is created before its start() record is written: an attempt that dies in between
    leaves a child without a record; the next attempt computes the same id and takes that child."""
    run(store, scripts / "parent.py", "p", ["4"])
    Block = store.tables.block
    Block.delete().where(Block.name.startswith("job:")).execute()  # as if the attempt died before recording

    store.set_status(store.get_job("p"), status=JobStatus.WAITING, reason="as if resumed")  # type: ignore[arg-type]
    again = resume_one(store, "p")

    assert (again.status, again.reason) == ("Waiting", "waiting for 1 of 1 child job")
    assert [child.id for child in store.children("p")] == ["p.1"]


def test_a_job_id_is_an_idempotency_key(store: Store, tmp_path: Path) -> None:
    write_script(tmp_path, "child.py", CHILD)
    write_script(
        tmp_path,
        "parent.py",
        """
        a = start("child.py", 5, job_id="deploy-5")
        b = start("child.py", 5, job_id="deploy-5")   # the same child again: the same handle
        job.result = [a.id, b.id]
        """,
    )
    write_script(tmp_path, "other.py", 'start("child.py", 5, job_id="deploy-5")\n')

    done = run(store, tmp_path / "parent.py", "p")
    other = run(store, tmp_path / "other.py", "q")

    assert done.status == "Completed" and api.job_result("p", store=store) == ["deploy-5", "deploy-5"]
    assert [child.id for child in store.children("p")] == ["deploy-5"]
    assert (other.status, other.exit_code) == ("Failed", EXIT_USAGE)
    assert other.reason == (
        "start('child.py'): job id deploy-5 is taken by another job (job p's child, running "
        f"{tmp_path / 'child.py'} ['5']); fix: choose another job_id"
    )


def test_a_failed_child_raises_in_the_parent_with_its_error(store: Store, scripts: Path) -> None:
    run(store, scripts / "parent.py", "p", ["2", "-1"])
    resume_one(store, "p.1")
    failed = resume_one(store, "p.2")

    parent = resume_one(store, "p")

    assert failed.status == "Failed"
    assert parent.status == "Failed"
    assert parent.reason == "psflow.ChildJobError: child job p.2 Failed: ValueError: no negative hosts: -1"


def test_return_exceptions_gives_the_errors_in_place(store: Store, tmp_path: Path) -> None:
    write_script(tmp_path, "child.py", CHILD)
    write_script(
        tmp_path,
        "parent.py",
        """
        children = [start("child.py", n) for n in (2, -1)]
        results = wait_jobs(children, return_exceptions=True)
        job.result = [r if not isinstance(r, Exception) else (type(r).__name__, r.job_id, r.status) for r in results]
        """,
    )
    run(store, tmp_path / "parent.py", "p")
    resume_one(store, "p.1")
    resume_one(store, "p.2")

    done = resume_one(store, "p")

    assert done.status == "Completed"
    assert api.job_result("p", store=store) == [{"host": 2, "square": 4}, ("ChildJobError", "p.2", "Failed")]


def test_a_failed_child_retried_to_success_lets_the_retried_parent_complete(store: Store, scripts: Path) -> None:
    run(store, scripts / "parent.py", "p", ["-3"])
    resume_one(store, "p.1")
    assert resume_one(store, "p").status == "Failed"
    (scripts / "child.py").write_text((scripts / "child.py").read_text().replace("if n < 0:", "if n < -100:"))

    control.retry(store, "p.1")
    resume_one(store, "p.1")
    control.retry(store, "p")
    done = resume_one(store, "p")

    assert done.status == "Completed" and api.job_result("p", store=store) == [9]


def test_wait_jobs_timeout_makes_the_parent_due_then_raises(store: Store, tmp_path: Path) -> None:
    write_script(tmp_path, "child.py", CHILD)
    write_script(tmp_path, "parent.py", 'wait_jobs([start("child.py", 1)], timeout=60)\n')
    first = run(store, tmp_path / "parent.py", "p")
    parent = store.get_job("p")
    assert (
        first.status == "Waiting"
        and parent is not None
        and parent.due_at == pytest.approx(store.clock.now() + 60, abs=1)
    )

    store.clock.advance(61)  # type: ignore[attr-defined]
    timed_out = resume_one(store, "p")

    assert (timed_out.status, timed_out.exit_code) == ("Failed", 1)
    assert timed_out.reason == "waited more than 1m for 1 of 1 child job"


def test_cancel_cancels_the_children_that_have_not_ended(store: Store, scripts: Path) -> None:
    run(store, scripts / "parent.py", "p", ["1", "2", "3"])
    resume_one(store, "p.1")

    change = control.cancel(store, "p", reason="change window closed")

    assert change.children == ["p.2", "p.3"]
    assert [(child.id, child.status) for child in store.children("p")] == [
        ("p.1", "Completed"),
        ("p.2", "Cancelled"),
        ("p.3", "Cancelled"),
    ]
    assert store.get_job("p.2").reason == "cancelled with its parent job p: change window closed"  # type: ignore[union-attr]


def test_cancel_keep_children_leaves_them_to_finish(store: Store, scripts: Path) -> None:
    run(store, scripts / "parent.py", "p", ["1", "2"])

    change = control.cancel(store, "p", keep_children=True)
    resume_one(store, "p.1")

    assert change.children == []
    assert [(child.id, child.status) for child in store.children("p")] == [("p.1", "Completed"), ("p.2", "Queued")]
    assert _status(store, "p") == "Cancelled"


def test_cancel_of_a_running_child_s_parent_takes_the_child_from_its_runner(store: Store, scripts: Path) -> None:
    run(store, scripts / "parent.py", "p", ["1"])
    child = store.get_job("p.1")
    assert child is not None and store.claim_job(child, Runner("server2", 4242, 60.0))

    control.cancel(store, "p")

    assert _status(store, "p.1") == "Cancelled"
    assert not store.renew_lease("p.1", 1, 60.0)  # its runner's next write fails: it stops


def test_rm_of_an_awaited_child_wakes_the_parent_which_raises(store: Store, scripts: Path) -> None:
    run(store, scripts / "parent.py", "p", ["1", "2"])
    resume_one(store, "p.1")

    control.remove(store, ["p.2"])
    assert _due(store, "p")
    parent = resume_one(store, "p")

    assert parent.status == "Failed"
    assert parent.reason == "psflow.ChildJobError: child job p.2 removed: the job was removed (psflow rm)"


def test_prune_of_an_awaited_queued_child_wakes_the_parent(store: Store, scripts: Path) -> None:
    run(store, scripts / "parent.py", "p", ["1"])
    store.clock.advance(3600)  # type: ignore[attr-defined]
    Job = store.tables.job
    Job.update(updated_at=store.clock.now()).where(Job.id == "p").execute()  # the parent: recent, kept

    control.prune(store, older_than="30m", statuses=["Queued"])

    assert [job.id for job in store.list_jobs()] == ["p"]
    assert _due(store, "p")


def test_the_parent_sleeps_until_its_last_child_ends_whichever_commits_first(store: Store, scripts: Path) -> None:
    """The parent's own wait and its last child's end, in either order: it is due after both."""
    run(store, scripts / "parent.py", "p", ["1"])  # creates p.1; the parent waits for it
    child = store.get_job("p.1")
    assert child is not None
    # Order 1 happened above (the parent waited first); the child ends now:
    assert store.claim_job(child, Runner("server2", 1, 60.0))
    store.set_status(store.get_job("p"), status=JobStatus.WAITING, reason="x")  # type: ignore[arg-type]
    parent = store.get_job("p")
    assert parent is not None and store.claim_job(parent, Runner("server3", 1, 60.0))  # the parent runs again
    # Order 2: the child ends while its parent runs, then the parent stops to wait for it.
    assert store.finish_attempt("p.1", 1, status="Completed", reason=None)
    assert not _due(store, "p")  # Running: its lease decides, not its children
    assert store.finish_attempt(
        "p", parent.attempts + 1, status="Waiting", reason="w", waits_for=WAITS_FOR_CHILDREN, awaits=("p.1",)
    )

    assert _due(store, "p")  # its own transaction saw the child ended: due at once


def test_job_detail_shows_the_result_parent_and_children_as_display_values(store: Store, scripts: Path) -> None:
    run(store, scripts / "parent.py", "p", ["2"])
    resume_one(store, "p.1")
    resume_one(store, "p")

    detail = history.job_detail(store, "p")
    child = history.job_detail(store, "p.1")

    assert detail["result"] == [4]
    [shown] = detail["children"]
    assert (shown["id"], shown["status"], shown["result"], shown["children"]) == (
        "p.1",
        "Completed",
        {"host": 2, "square": 4},
        [],
    )
    assert child["parent"] == "p"


# ---- bad input: a one-line error, exit 2, nothing created --------------------------


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ('start("nosuch.py")', "start('nosuch.py'): script not found: {tmp}/nosuch.py, and no workflow named"),
        ('start("child.py", job_id="bad id!")', "start() job_id 'bad id!' is not valid"),
        (
            'start("child.py", [1, 2])',
            "start() arguments are given to the child as text: a str, int or float, not a list",
        ),
        ('wait_jobs(["p.1"])', "wait_jobs() needs what start() returned, not a str ('p.1')"),
        ('wait_jobs(start("child.py", 1))', "wait_jobs() needs a list of what start() returned, not a JobHandle"),
        ('wait_jobs([start("child.py", 1)], timeout=-5)', "wait_jobs() timeout needs a duration of 0 or more seconds"),
        (
            'from psflow import JobHandle\nwait_jobs([JobHandle(start("child.py", 1, job_id="x.1").id), JobHandle("b")])',
            "wait_jobs(): job b is not a child of job b: wait only for the handles this job's start() returned",
        ),
    ],
)
def test_bad_input_fails_the_parent_with_one_line(store: Store, scripts: Path, source: str, reason: str) -> None:
    write_script(scripts, "bad.py", source + "\n")

    result = run(store, scripts / "bad.py", "b")

    assert (result.status, result.exit_code) == ("Failed", EXIT_USAGE)
    assert (result.reason or "").startswith(reason.format(tmp=scripts)), result.reason


def test_a_parent_that_lost_its_job_creates_no_child(store: Store, scripts: Path, monkeypatch) -> None:
    """start() is fenced like the attempt's other writes: once another runner took the parent (here just
    before its second child is created), nothing more is created, and the attempt stops as lost."""
    create = store.create_job
    Job = store.tables.job

    def taken_before_the_second(job_id: str, **fields):
        if job_id == "p.2":  # another runner claims the parent, as after its lease ran out
            Job.update(attempts=Job.attempts + 1).where(Job.id == "p").execute()
        return create(job_id, **fields)

    monkeypatch.setattr(store, "create_job", taken_before_the_second)
    result = run(store, scripts / "parent.py", "p", ["1", "2", "3"])

    assert (result.status, result.note) == ("lost", result.reason)
    assert [child.id for child in store.children("p")] == ["p.1"]


def test_a_child_script_that_does_not_compile_is_refused_at_start(store: Store, scripts: Path) -> None:
    write_script(scripts, "broken.py", "print(\n")
    write_script(scripts, "bad.py", 'start("broken.py")\n')

    result = run(store, scripts / "bad.py", "b")

    assert (result.status, result.exit_code) == ("Failed", EXIT_USAGE)
    assert (result.reason or "").startswith("start('broken.py'): the child's script does not compile:")
    assert store.children("b") == []


def test_a_server_with_only_the_public_key_cannot_start_a_child(
    store: Store, scripts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(store, scripts / "parent.py", "p", ["1"])  # signed here, where the private key is
    store.set_status(store.get_job("p"), status=JobStatus.WAITING, reason="again")  # type: ignore[arg-type]
    store.tables.block.delete().where(store.tables.block.job == "p").execute()
    store.tables.job.delete().where(store.tables.job.id == "p.1").execute()
    line = public_key().line()
    monkeypatch.setenv("PSFLOW_CONFIG", str(tmp_path / "worker" / "config.toml"))
    keys_folder().mkdir(parents=True)
    (keys_folder() / "deployment.pub").write_text(line + "\n")

    result = resume_one(store, "p")

    assert (result.status, result.exit_code) == ("Failed", EXIT_USAGE)
    assert (result.reason or "").startswith(
        "start('child.py'): cannot sign child job p.1: this server holds only the public deployment key"
    )
    assert store.children("p") == []
    assert os.environ["PSFLOW_CONFIG"].endswith("config.toml")
