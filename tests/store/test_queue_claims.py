"""Queues in the store, in-process, on every backend: a job's queue and priority, and the global
limit kept by the claim itself — also when stores on their own connections claim at the same moment."""

from __future__ import annotations

import threading

from psflow.domain import JobStatus, Runner
from psflow.store import JobView, QueueView, Store, open_store
from support.clock import FakeClock

HERE = Runner("server1", 100, 60.0)


def _submit(store: Store, job_id: str, queue: str = "deploy", *, priority: int = 0) -> JobView:
    created = store.create_job(
        job_id,
        name="flow",
        script="/srv/flow.py",
        source="print(1)\n",
        source_sha256="f" * 64,
        args=[],
        runner=None,
        queue=queue,
        priority=priority,
    )
    assert created is not None
    return created


def _runner(number: int) -> Runner:
    return Runner(f"server{number}", 1000 + number, 60.0)


def _running(store: Store, queue: str = "deploy") -> int:
    return sum(1 for job in store.list_jobs([JobStatus.RUNNING]) if job.queue == queue)


def test_a_job_without_a_runner_is_queued_and_due_at_once(store: Store):
    job = _submit(store, "a", "deploy", priority=5)
    assert (job.status, job.attempts, job.owner_host, job.lease_until) == (JobStatus.QUEUED, 0, None, None)
    assert store.get_job("a") == job
    assert (job.queue, job.priority) == ("deploy", 5)
    assert store.due_jobs([JobStatus.QUEUED]) == [job]


def test_due_jobs_higher_priority_first_then_longest_due(store: Store, clock: FakeClock):
    _submit(store, "old")
    clock.advance(1)
    _submit(store, "urgent", priority=10)
    clock.advance(1)
    _submit(store, "low", priority=-1)
    _submit(store, "other", "build")
    assert [job.id for job in store.due_jobs([JobStatus.QUEUED])] == ["urgent", "old", "other", "low"]
    assert [job.id for job in store.due_jobs([JobStatus.QUEUED], queues=["build"])] == ["other"]
    assert [job.id for job in store.due_jobs([JobStatus.QUEUED], skip_queues=["deploy"])] == ["other"]


def test_claims_stop_at_the_queue_limit_and_go_on_when_a_job_ends(store: Store):
    store.set_queue_limit("deploy", 2)
    jobs = [_submit(store, f"j{number}") for number in range(4)]
    other = _submit(store, "free", "build")
    assert [store.claim_job(job, _runner(number)) for number, job in enumerate(jobs)] == [True, True, False, False]
    assert store.get_job("j2") == jobs[2]  # held back: nothing written, still due
    assert store.claim_job(other, HERE)  # another queue is not held by this one's limit
    assert store.finish_attempt("j0", 1, status=JobStatus.COMPLETED, reason=None)
    assert store.claim_job(jobs[2], _runner(2))
    assert not store.claim_job(jobs[3], _runner(3))
    assert _running(store) == 2


def test_a_queue_without_a_limit_or_with_none_any_more_takes_every_claim(store: Store):
    store.set_queue_limit("deploy", 1)
    store.set_queue_limit("deploy", None)
    assert store.queue("deploy") == QueueView("deploy", None)
    jobs = [_submit(store, f"j{number}") for number in range(3)] + [_submit(store, "d", "default")]
    assert all(store.claim_job(job, _runner(number)) for number, job in enumerate(jobs))
    assert store.queue("default") is None


def test_taking_over_a_running_job_adds_nothing_to_the_count(store: Store, clock: FakeClock):
    store.set_queue_limit("deploy", 1)
    job = _submit(store, "a")
    assert store.claim_job(job, _runner(1))
    clock.advance(120)  # its runner died: the lease ran out, the job still counts as Running
    running = store.get_job("a")
    assert running is not None and running.status == JobStatus.RUNNING
    assert store.claim_job(running, _runner(2))  # the queue is full, but this claim adds no Running job
    assert store.get_job("a").attempts == 2


def test_a_limit_set_lower_than_what_runs_stops_new_claims_only(store: Store):
    jobs = [_submit(store, f"j{number}") for number in range(3)]
    assert store.claim_job(jobs[0], _runner(0)) and store.claim_job(jobs[1], _runner(1))
    store.set_queue_limit("deploy", 1)
    assert not store.claim_job(jobs[2], _runner(2))
    assert _running(store) == 2  # the two running go on


def test_queue_loads_and_counts(store: Store, clock: FakeClock):
    store.set_queue_limit("deploy", 2)
    store.set_queue_limit("idle", 5)
    jobs = [_submit(store, f"j{number}") for number in range(3)]
    _submit(store, "b", "build")
    assert store.claim_job(jobs[0], HERE)
    assert store.finish_attempt("j0", 1, status=JobStatus.WAITING, reason=None, due_at=clock.now() + 3600)
    assert store.claim_job(jobs[1], HERE)
    failed = _submit(store, "f")
    assert store.claim_job(failed, HERE)
    assert store.finish_attempt("f", 1, status=JobStatus.FAILED, reason="boom")
    assert store.queue_loads() == {"deploy": (2, 1), "idle": (5, 0)}
    assert store.queue_counts() == [
        QueueView("build", None, running=0, due=1, waiting=0, other=0),
        QueueView("deploy", 2, running=1, due=1, waiting=1, other=1),
        QueueView("idle", 5),
    ]


def test_stores_racing_for_a_limited_queue_never_run_more_than_its_limit(db_url: str):
    """Eight stores, each on its own connection in its own thread, claim at once, round after round:
    every round exactly two claims win (the limit), whoever they are."""
    limit, claimers, rounds = 2, 8, 5
    with open_store(db_url) as setup:
        setup.set_queue_limit("deploy", limit)
        for number in range(claimers * rounds):
            _submit(setup, f"j{number:03}")
    stores = [open_store(db_url) for _ in range(claimers)]
    try:
        for round_ in range(rounds):
            wins = _race(stores, [f"j{round_ * claimers + number:03}" for number in range(claimers)])
            assert len(wins) == limit, wins
            with open_store(db_url) as check:
                assert _running(check) == limit
                for job_id in wins:  # the winners end: the next round starts from an empty queue
                    assert check.finish_attempt(job_id, 1, status=JobStatus.COMPLETED, reason=None)
    finally:
        for store in stores:
            store.close()


def _race(stores: list[Store], job_ids: list[str]) -> list[str]:
    """Each store (in a thread of its own) claims its job at the same moment; the ids claimed."""
    start = threading.Barrier(len(stores))
    wins: list[str] = []
    errors: list[BaseException] = []

    def claim(number: int) -> None:
        try:
            job = stores[number].get_job(job_ids[number])
            assert job is not None
            start.wait()
            if stores[number].claim_job(job, _runner(number)):
                wins.append(job.id)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=claim, args=(number,)) for number in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return wins
