"""How a worker's pool hands due jobs to its children, in this process (the children are pipes here, no
processes): one look serves several jobs, and workers reading the same due jobs take them in
different orders within a priority, so they rarely race for the same one (psflow.service.workers)."""

from __future__ import annotations

import random
from multiprocessing import Pipe
from multiprocessing.connection import Connection

import pytest

from psflow.domain import JobStatus, RunOptions
from psflow.service import worker_process, workers
from psflow.service.results import RunResult
from psflow.store import Store, open_store

QUEUED = [JobStatus.QUEUED]


@pytest.fixture
def store(db_url: str) -> Store:
    with open_store(db_url) as opened:
        for number in range(30):
            opened.create_job(
                f"job-{number:02d}",
                name="flow",
                script="/srv/flow.py",
                source="pass\n",
                source_sha256="0" * 64,
                args=[],
                runner=None,
                priority=1 if number >= 25 else 0,  # the last five first
            )
        yield opened


class _Looks:
    """Counts the pool's looks for due jobs."""

    def __init__(self, store: Store) -> None:
        self.count, self._due = 0, store.due_jobs

    def __call__(self, *args, **kwargs):
        self.count += 1
        return self._due(*args, **kwargs)


def _pool(store: Store, processes: int, monkeypatch: pytest.MonkeyPatch) -> tuple[workers._Pool, list[Connection]]:
    """A pool whose children are the ends of pipes: what is sent to them is the test's to read."""
    pool = workers._Pool(store, processes, RunOptions(), False, False, None, workers.Shutdown())
    ends: list[Connection] = []

    def start_child() -> worker_process.WorkerProcess:
        ours, theirs = Pipe()
        ends.append(theirs)
        child = worker_process.WorkerProcess(process=None, pid=0, conn=ours)  # type: ignore[arg-type]
        pool.children.append(child)
        return child

    monkeypatch.setattr(pool, "_start_child", start_child)
    return pool, ends


def _hand_out(pool: workers._Pool, ends: list[Connection], jobs: int) -> list[str]:
    """Let the pool give `jobs` jobs to its children, each child answering at once; the ids, in order."""
    given: list[str] = []
    tried: set[str] = set()
    while len(given) < jobs:
        assert pool._take_due(QUEUED, tried, None, spread=True)
        for child, end in zip(pool.children, ends, strict=True):
            if child.job_id is not None:
                given.append(end.recv())
                child.job_id = None
    return given


def test_a_worker_takes_a_batch_of_due_jobs_with_one_look(store: Store, monkeypatch: pytest.MonkeyPatch):
    pool, ends = _pool(store, 2, monkeypatch)
    looks = _Looks(store)
    monkeypatch.setattr(store, "due_jobs", looks)
    given = _hand_out(pool, ends, 16)
    assert looks.count == 1
    assert len(set(given)) == 16
    pool.batch.clear()  # the next poll: a new look
    assert pool._take_due(QUEUED, set(given), None, spread=True)
    assert looks.count == 2


def test_workers_take_due_jobs_of_one_priority_in_different_orders(store: Store, monkeypatch: pytest.MonkeyPatch):
    random.seed(13)
    orders = []
    for _ in range(2):
        pool, ends = _pool(store, 1, monkeypatch)
        orders.append(_hand_out(pool, ends, 12))
    for order in orders:
        assert sorted(order[:5]) == [f"job-{number}" for number in range(25, 30)]  # higher priority first
    assert orders[0][5:] != orders[1][5:]  # then in random order (as two servers would)
    assert orders[0][:5] != orders[1][:5]


def test_a_sweep_takes_due_jobs_in_order_and_looks_each_time(store: Store, monkeypatch: pytest.MonkeyPatch):
    pool, ends = _pool(store, 1, monkeypatch)
    looks = _Looks(store)
    monkeypatch.setattr(store, "due_jobs", looks)
    tried: set[str] = set()
    given = []
    for _ in range(3):
        assert pool._take_due(QUEUED, tried, None, spread=False)
        given.append(ends[0].recv())
        pool.children[0].job_id = None
    assert given == ["job-25", "job-26", "job-27"]
    assert looks.count == 3


@pytest.mark.parametrize("forever", [True, False], ids=["worker", "sweep"])
def test_a_worker_hands_each_result_on_and_keeps_none(store: Store, monkeypatch: pytest.MonkeyPatch, forever: bool):
    """A worker runs for months: it keeps only what it runs now (a sweep, as `resume`, returns its results)."""

    def run_due(pool: workers._Pool, statuses, *, limit, forever, poll) -> None:
        for number in range(3):
            pool._report(
                RunResult(job_id=f"job-{number:02d}", script="flow.py", status="Completed", reason=None, attempt=1)
            )

    monkeypatch.setattr(workers._Pool, "run_due", run_due)
    handed_on: list[RunResult] = []

    returned = workers.run_pool(store, statuses=QUEUED, forever=forever, on_result=handed_on.append)

    assert [result.job_id for result in handed_on] == ["job-00", "job-01", "job-02"]
    assert returned == ([] if forever else handed_on)


@pytest.mark.parametrize("worker", [True, False], ids=["worker", "sweep"])
def test_a_worker_says_nothing_of_a_job_another_runner_took_first(
    store: Store, monkeypatch: pytest.MonkeyPatch, worker: bool
):
    told: list[RunResult] = []
    pool, ends = _pool(store, 1, monkeypatch)
    pool.worker, pool.on_result = worker, told.append
    assert pool._take_due(QUEUED, set(), None, spread=worker)
    job_id = ends[0].recv()
    taken = RunResult(job_id=job_id, script="flow.py", status="Completed", reason=None, attempt=1, skipped=True)
    ends[0].send(taken)

    pool._answer(pool.children[0])

    assert told == ([] if worker else [taken])  # a sweep (`resume`) says why it left each job
    assert pool.children[0].job_id is None  # free for the next job


def test_a_job_found_taken_makes_the_next_job_come_from_a_new_look(store: Store, monkeypatch: pytest.MonkeyPatch):
    """Another runner took a job of the batch since the look: it may have taken others of it too, so the
    batch goes (each of them would be a check done for nothing) and the next idle child gets a fresh look."""
    pool, ends = _pool(store, 1, monkeypatch)
    looks = _Looks(store)
    monkeypatch.setattr(store, "due_jobs", looks)
    tried: set[str] = set()
    assert pool._take_due(QUEUED, tried, None, spread=True)
    first = ends[0].recv()
    assert pool.batch and looks.count == 1
    ran = RunResult(job_id=first, script="flow.py", status="Completed", reason=None, attempt=1)
    ends[0].send(ran)
    pool._answer(pool.children[0])
    assert pool.batch  # it ran: the rest of the batch is as good as it was
    assert pool._take_due(QUEUED, tried, None, spread=True)
    second = ends[0].recv()
    ends[0].send(RunResult(job_id=second, script="flow.py", status="Completed", reason=None, attempt=1, skipped=True))
    pool._answer(pool.children[0])
    assert not pool.batch
    assert pool._take_due(QUEUED, tried, None, spread=True)
    assert looks.count == 2


@pytest.mark.parametrize("forever", [False, True], ids=["sweep", "worker"])
def test_nothing_due_starts_no_worker_process(store: Store, monkeypatch: pytest.MonkeyPatch, forever: bool):
    """A child is started for a job it is handed, not before the look: `psflow resume` with nothing due
    (a cron job's usual case) costs no interpreter start-up."""
    pool, ends = _pool(store, 2, monkeypatch)
    if forever:  # one look, then stop as a signal would
        monkeypatch.setattr(pool, "_wait", lambda timeout: pool.shutdown.request(15))
    pool.run_due([JobStatus.WAITING], limit=None, forever=forever, poll=60)  # the jobs are all Queued
    assert ends == [] and pool.children == []
