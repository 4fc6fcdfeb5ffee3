"""Jobs run in this process, through psflow.service.running on a Store: what `psflow exec` and
`psflow resume` do, without starting the command (in-process tests, and fast set-up for e2e tests).

A script run here prints to this process's stdout (use capsys), and reads relative
paths from this process's working folder (chdir to the test's folder first).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from psflow.domain import JobStatus, Runner, RunOptions
from psflow.service import exec_requests, inputs, running, trust
from psflow.service.due import due_jobs, not_due_reason
from psflow.service.results import RunResult, skipped
from psflow.store import BlockRecord, JobView, Store, open_store
from support.scripts import DONE, FAILS, FLAKY, WAITS, write_script

ELSEWHERE = Runner("server2", 4242, 60.0)  # a runner on another server, that no test controls


def run(
    store: Store,
    script: Path | str,
    job_id: str | None = None,
    args: Iterable[str] = (),
    *,
    replay_output: bool = False,
    rerun_changed: bool = False,
    announce: Callable[[str], None] | None = None,
) -> RunResult:
    """`psflow exec SCRIPT [ARGS] [--job ID]`: a Path is a file, a str that is no file a workflow's name."""
    options = RunOptions(replay_output=replay_output, rerun_changed=rerun_changed)
    request = exec_requests.exec_request(script, job_id)
    return running.run(store, request, list(args), options=options, announce=announce)


def resume(
    store: Store,
    *job_ids: str,
    statuses: Iterable[str] = (JobStatus.WAITING,),
    latest: bool = False,
    replay_output: bool = False,
    rerun_changed: bool = False,
) -> list[RunResult]:
    """`psflow resume [--job ID …] [--status S …]` in this process, one job after another: the jobs named
    (each told why if it is not run), or each due job once, then why each other job was left alone —
    what psflow.service.workers does in worker processes."""
    options = RunOptions(replay_output=replay_output, rerun_changed=rerun_changed, latest=latest)
    if job_ids:
        return [running.resume_one(store, store.find_job(job_id), options) for job_id in job_ids]
    results, tried = [], set()
    while True:
        due = [job for job in due_jobs(store, statuses) if job.id not in tried]
        if not due:
            break
        tried.add(due[0].id)
        results.append(running.resume_one(store, due[0], options))
    now = store.clock.now()
    for job in store.list_jobs(list(statuses), order="oldest"):
        reason = not_due_reason(job, now) if job.id not in tried else None
        if reason is not None:
            results.append(skipped(job, f"skipped: {reason}"))
    return results


def resume_here(db_url: str, *job_ids: str) -> list[RunResult]:
    """`api.resume(job_ids=…, db=db_url)` without its worker processes (0.3 s each to start): the
    named jobs run in this process, as the worker process would run them."""
    with open_store(db_url) as store:
        return resume(store, *job_ids)


def resume_one(store: Store, job_id: str, **options: bool) -> RunResult:
    """`psflow resume --job ID`: the one result."""
    [result] = resume(store, job_id, **options)
    return result


def held_elsewhere(store: Store, job_id: str, *, runner: Runner = ELSEWHERE) -> JobView:
    """Job `job_id` Running under `runner`'s lease, as that runner leaves it once attempt 1 began.
    Nothing runs here: move the store's clock past the lease to make it a job whose runner died."""
    source = "pass\n"
    sha256 = hashlib.sha256(source.encode()).hexdigest()
    key = trust.job_signer()  # the deployment's key, as that runner's server signs with
    job = store.create_job(
        job_id,
        name="flow",
        script="/srv/flow.py",
        source=source,
        source_sha256=sha256,
        args=[],
        runner=runner,
        sign=lambda created, text: trust.sign_job(key, created, text),
    )
    assert job is not None, f"job {job_id} exists already"
    store.start_attempt(job_id, 1, runner, source_sha256=sha256)
    return job


def done_waits_fails(store: Store, folder: Path) -> None:
    """Jobs `done` (Completed), `waits` (Waiting, with input `approval` sent) and `fails` (Failed until
    `folder/fixed` exists), run from scripts done.py, waits.py and fails.py in `folder` (the working folder)."""
    for name, source, status in (("done", DONE, "Completed"), ("waits", WAITS, "Waiting"), ("fails", FAILS, "Failed")):
        result = run(store, write_script(folder, f"{name}.py", source), name)
        assert result.status == status, result
    inputs.send(store, "waits", {"approval": "alice"})


def completed_run(name: str, attempt: int = 1, *, started: float = 0.0, ended: float = 0.0, **changes) -> BlockRecord:
    """A Completed run of block `name` (what `store.save_block` records), for tests of history alone."""
    values = {
        "name": name,
        "status": "Completed",
        "saved": "{}",
        "mutated": None,
        "exit_kind": "normal",
        "returned": None,
        "output": "",
        "error": None,
        "started_at": started,
        "ended_at": ended,
        "attempt": attempt,
        "host": "server2",
        "pid": 4242,
        "tries": 1,
        "fingerprint": None,
    }
    values.update(changes)
    return BlockRecord(**values)


def three_jobs(store: Store, folder: Path) -> None:
    """alpha-1 (Completed, done.py), then alpha-2 and beta-1 (Waiting, wait.py), each updated after the one before."""
    done = write_script(folder, "done.py", "print('done')\n")
    wait = write_script(folder, "wait.py", "stop('Waiting')\n")
    for job_id, script in (("alpha-1", done), ("alpha-2", wait), ("beta-1", wait)):
        run(store, script, job_id)


def failed_then_fixed(store: Store, folder: Path) -> str:
    """Job `flaky` of FLAKY: attempt 1 failed in "load"; attempt 2, with `folder/fixed` there, completed."""
    assert run(store, write_script(folder, "flaky.py", FLAKY), "flaky").status == JobStatus.FAILED
    (folder / "fixed").touch()
    [fixed] = resume(store, statuses=[JobStatus.FAILED])
    assert fixed.status == JobStatus.COMPLETED, fixed
    return "flaky"


def code_changed_job(store: Store, job_id: str = "coded") -> None:
    """A job like `failed_then_fixed`'s, recorded directly with the code fingerprints the transformer would
    record: "load" failed in attempt 1 (fingerprint l1) and completed in attempt 2 with changed code (l2)."""
    held_elsewhere(store, job_id)
    for name, status, fingerprint in (("fetch", "Completed", "f1"), ("load", "Failed", "l1")):
        assert store.save_block(job_id, completed_run(name, 1, status=status, fingerprint=fingerprint))
    store.finish_attempt(job_id, 1, status=JobStatus.FAILED, reason="ValueError: bad row 2")
    assert store.claim_job(store.get_job(job_id), ELSEWHERE)  # each write is the owning attempt's
    store.start_attempt(job_id, 2, ELSEWHERE, source_sha256=store.get_job(job_id).source_sha256)
    for name, fingerprint in (("load", "l2"), ("report", "r1")):
        assert store.save_block(job_id, completed_run(name, 2, fingerprint=fingerprint))
    store.finish_attempt(job_id, 2, status=JobStatus.COMPLETED, reason=None)
