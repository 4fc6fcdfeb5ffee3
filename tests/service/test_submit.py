"""psflow.service.submit in-process, on every backend: a submitted job is created as exec creates it
(signed, its source stored, a workflow's newest version), Queued, and runs when a worker resumes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from psflow.domain import JobStatus, Runner
from psflow.errors import UsageError
from psflow.service import exec_requests, running, trust
from psflow.service.queues import set_limit
from psflow.service.submit import submit
from psflow.service.workflows import register
from psflow.store import Store


def _script(tmp_path: Path, name: str = "flow.py") -> Path:
    script = tmp_path / name
    script.write_text('import sys\nblock "say":\n    said = sys.argv[1:]\n')
    return script


def test_a_submitted_job_is_signed_queued_and_runs_when_resumed(store: Store, tmp_path: Path):
    request = exec_requests.exec_request(_script(tmp_path), "nightly-1")
    submitted = submit(store, request, ["a"], queue="deploy", priority=2)
    job = submitted.job
    assert submitted.created
    assert (job.id, job.status, job.attempts, job.queue, job.priority) == ("nightly-1", "Queued", 0, "deploy", 2)
    assert store.job_source(job.id) == _script(tmp_path).read_text()
    assert trust.verified_job(store, job)  # signed as exec signs: a server with the public key runs it
    result = running.resume_job(store, job.id)
    assert (result.status, result.attempt, result.ran) == (JobStatus.COMPLETED, 1, 1)


def test_the_same_submission_again_creates_nothing_and_another_is_refused(store: Store, tmp_path: Path):
    request = exec_requests.exec_request(_script(tmp_path), "j1")
    first = submit(store, request, ["a"])
    again = submit(store, request, ["a"])
    assert (again.created, again.job) == (False, first.job)
    with pytest.raises(UsageError, match=r"exists already with arguments \['a'\], not \['b'\]"):
        submit(store, request, ["b"])
    with pytest.raises(UsageError, match="exists already in queue default, not other"):
        submit(store, request, ["a"], queue="other")
    other = exec_requests.exec_request(_script(tmp_path, "other.py"), "j1")
    with pytest.raises(UsageError, match="exists already and runs"):
        submit(store, other, ["a"])
    assert len(store.list_jobs()) == 1


def test_a_workflow_name_submits_its_newest_version(store: Store, tmp_path: Path, monkeypatch):
    register(store, "nightly", _script(tmp_path))
    monkeypatch.chdir(tmp_path / "..")  # no file named nightly here
    job = submit(store, exec_requests.exec_request("nightly")).job
    assert (job.workflow, job.workflow_version, job.status) == ("nightly", 1, JobStatus.QUEUED)


@pytest.mark.parametrize(
    ("queue", "priority", "message"),
    [("bad name", 0, "queue name 'bad name' is not valid"), ("q", 10**7, "--priority 10000000 is out of range")],
)
def test_bad_queue_or_priority_is_refused_before_anything_is_written(store, tmp_path, queue, priority, message):
    with pytest.raises(UsageError, match=message):
        submit(store, exec_requests.exec_request(_script(tmp_path)), queue=queue, priority=priority)
    assert store.list_jobs() == []


def test_resuming_a_job_of_a_full_queue_says_why_and_writes_nothing(store: Store, tmp_path: Path):
    request = exec_requests.exec_request(_script(tmp_path))
    set_limit(store, "deploy", 1)
    first, second = (submit(store, request, queue="deploy").job for _ in range(2))
    assert store.claim_job(first, Runner("elsewhere", 1))
    held = running.resume_job(store, second.id)
    assert held.skipped and held.note == "skipped: queue deploy is at its limit (1 of 1 running)"
    assert store.get_job(second.id) == second
    with pytest.raises(UsageError, match="--limit 0 is not a limit"):
        set_limit(store, "deploy", 0)
