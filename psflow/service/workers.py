"""Run jobs in worker processes: `psflow resume` (one process unless `--parallel N`), `send --resume`
and `psflow worker`.

The parent finds the jobs to run (the jobs named, or the due ones: one query per
look) and hands each to an idle child through that child's own pipe, so it always
knows which job each child runs — the only thing it keeps in memory. A child
(psflow.service.worker_process) claims the job (one conditional UPDATE), runs it in a
fresh `__main__`, answers, and takes the next one: start-up is paid once per child.

A job that kills its process (os._exit, a segfault, the OOM killer) fails alone: the
parent marks it Failed with the reason, starts a new child, and goes on.

Children run in their own session, so a signal to the terminal's or service's process
group reaches the parent alone, which decides (`Shutdown`): `resume` interrupts the
running jobs at once (they become Interrupted); a worker lets each finish its current
block and hands the job back (SIGUSR1), and interrupts at a second signal. Either way
no new job is taken.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import wait

from psflow.domain import JobStatus, RunOptions
from psflow.errors import EXIT_FAILED, EXIT_UNTRUSTED, EditedRow
from psflow.hosts import host_name
from psflow.runtime.signals import GRACEFUL
from psflow.service.due import due_jobs, not_due_reason
from psflow.service.queues import full_note
from psflow.service.results import RunResult, edited_not_run, skipped
from psflow.service.worker_process import WorkerProcess, start_worker_process
from psflow.store import JobView, Store

REFUSED_RECHECK = 600.0  # seconds before a worker tries an unchanged refused job again (keys may have changed)
_WAKE_SECONDS = 0.2  # how often the parent looks at shutdown requests while children work
# Due jobs a worker's look reads beyond those it can start now. It keeps them for its children's next
# jobs (no look per job), and takes jobs of one priority in random order: workers on other servers,
# reading the same due jobs, then rarely race for the same one (a claim lost is a job's check done twice).
SPREAD = 16


@dataclass
class Shutdown:
    """Signals the parent received (set from the CLI's handlers), and who is told once each one has
    been passed on to the children."""

    announce: Callable[[str], None] | None = None
    signals: list[int] = field(default_factory=list)
    passed_on: int = 0

    def request(self, signum: int) -> None:
        self.signals.append(signum)

    @property
    def requested(self) -> bool:
        return bool(self.signals)


def run_pool(
    store: Store,
    *,
    statuses: Iterable[str] = (JobStatus.WAITING,),
    job_ids: Iterable[str] = (),
    processes: int = 1,
    limit: int | None = None,
    forever: bool = False,
    poll: float = 5.0,
    graceful: bool = False,
    prefix: bool = False,
    on_result: Callable[[RunResult], None] | None = None,
    shutdown: Shutdown | None = None,
    options: RunOptions = RunOptions(),
    queues: Iterable[str] = (),
    untold: Iterable[str] = (),
) -> list[RunResult]:
    """Run the jobs `job_ids`, or the due jobs in `statuses` — once each, or with `forever` each time
    it is due again, looking every `poll` seconds — in `processes` children, until done or shut down.

    `graceful`: a first signal lets running blocks finish and hands their jobs back (a worker);
    otherwise it interrupts them at once. `prefix`: each line a job prints starts with `[JOB] `.
    `queues`: only due jobs of these queues (default: every queue). A queue at its global limit
    is left alone (its jobs stay due); a one-sweep run says so for each of its jobs it left.
    Returns each job's result, except with `forever`: a worker that runs for months keeps only what
    it runs now, hands each result to `on_result` alone, and leaves out the jobs it found taken.
    `untold`: statuses whose jobs a one-sweep run leaves alone without saying so (`worker --once`
    takes Running jobs only when their runner is gone: the others, running fine elsewhere, are not news).
    """
    pool = _Pool(store, processes, options, graceful, prefix, on_result, shutdown or Shutdown(), worker=forever)
    pool.queues, pool.untold = list(queues), set(untold)
    try:
        if job_ids:
            pool.run_named([store.find_job(job_id).id for job_id in job_ids])
        else:
            pool.run_due(list(statuses), limit=limit, forever=forever, poll=poll)
    finally:
        pool.close()
    return pool.results


class _Pool:
    def __init__(
        self,
        store: Store,
        processes: int,
        options: RunOptions,
        graceful: bool,
        prefix: bool,
        on_result: Callable[[RunResult], None] | None,
        shutdown: Shutdown,
        *,
        worker: bool = False,
    ) -> None:
        self.store, self.size, self.options = store, max(1, processes), options
        # A worker runs until stopped: it keeps no results, and does not tell of a job it read as due
        # that another runner took first (not news; it would be a line for every lost race).
        self.worker = worker
        self.graceful, self.prefix, self.on_result, self.shutdown = graceful, prefix, on_result, shutdown
        self.children: list[WorkerProcess] = []
        self.results: list[RunResult] = []  # each job's, unless a worker
        self.taken = 0  # jobs handed to children so far
        # A job refused for its signature, or for a row edited by hand, is refused again until its row
        # changes (an admin signs it) or this server's keys may have (REFUSED_RECHECK): not offered,
        # nor reported, every poll.
        self.offered: dict[str, JobView] = {}
        self.refused: dict[str, tuple[JobView, float]] = {}
        self.told_edited: dict[str, str] = {}  # jobs whose rows could not be read, and what was said of each
        self.queues: list[str] = []  # only these queues' jobs (none: every queue)
        self.untold: set[str] = set()  # statuses whose jobs a sweep leaves alone silently
        self.full: dict[str, str] = {}  # queues at their limit at the last look, and what to say of them
        self.batch: list[JobView] = []  # due at the last look, not yet handed out (`forever` only)
        self.more = False  # the last look read as many due jobs as it asked for: there may be more

    # ---- what to run ------------------------------------------------------

    def run_named(self, job_ids: list[str]) -> None:
        pending = list(dict.fromkeys(job_ids))
        while (pending or self._busy()) and not self._stopping_done():
            while pending and not self.shutdown.requested and (idle := self._idle()) is not None:
                self._assign(idle, pending.pop(0))
            self._wait(None)

    def run_due(self, statuses: list[str], *, limit: int | None, forever: bool, poll: float) -> None:
        tried: set[str] = set()  # each job once per look (`forever`), or once in all (one sweep)
        next_look, left = 0.0, False
        while not self._stopping_done():
            now = self.store.clock.monotonic()
            periodic = now >= next_look
            if not self.shutdown.requested and (periodic or left) and self._room():
                if forever and periodic:
                    next_look = now + poll
                    tried.clear()
                    self.batch.clear()  # a new look: what the last one read may be stale by now
                left = self._take_due(statuses, tried, limit, spread=forever)
                if not forever and not left and not self._busy():
                    self._report_not_due(statuses, tried)
                    return  # one sweep: nothing due is left untried
            elif not forever and not self._busy() and (self.shutdown.requested or not left):
                return
            idle_wait = max(0.0, next_look - self.store.clock.monotonic()) if forever else None
            self._wait(None if self._busy() else idle_wait)

    def _take_due(self, statuses: list[str], tried: set[str], limit: int | None, *, spread: bool) -> bool:
        """Give due jobs to idle children; True if due jobs were left for lack of an idle child.

        `spread` (a worker): the jobs come from a batch the look read, in random order within a priority,
        and the next idle child takes the batch's next job without a new look."""
        if limit is not None and self.taken >= limit:
            return False
        running = {child.job_id for child in self.children if child.job_id is not None}
        room = self.size - len(running)
        if limit is not None:
            room = min(room, limit - self.taken)
        if not self.batch:
            self.batch, self.more = self._look(statuses, tried, running, room + (SPREAD if spread else 0))
            if spread:
                self.batch.sort(key=lambda job: (-job.priority, random.random()))
        for _ in range(room):
            child = self._idle() if self.batch else None
            if child is None:
                break
            job = self.batch.pop(0)
            tried.add(job.id)
            self.taken += 1
            self.offered[job.id] = job
            self._assign(child, job.id)
        if not spread:
            left, self.batch = bool(self.batch), []
            return left
        return bool(self.batch) or self.more

    def _look(self, statuses: list[str], tried: set[str], running: set[str], wanted: int) -> tuple[list[JobView], bool]:
        """Up to `wanted` due jobs to hand out (none running here, none tried in this look's period, none
        refused again, within their queues' room), and whether more may be due."""
        loads = self.store.queue_loads()  # the queues with a limit (a small table): those full are left alone
        self.full = {name: full_note(name, count, most) for name, (most, count) in loads.items() if count >= most}
        asked = wanted + 1 + len(running) + len(tried)
        found = due_jobs(
            self.store, statuses, limit=asked, queues=self.queues, skip_queues=list(self.full), edited=self._edited
        )
        fresh = [job for job in found if job.id not in running and job.id not in tried and not self._still_refused(job)]
        return _within_limits(fresh, loads)[: wanted + 1], len(found) >= asked

    def _still_refused(self, job: JobView) -> bool:
        refused = self.refused.get(job.id)
        if refused is None:
            return False
        as_read, when = refused
        if as_read == job and self.store.clock.monotonic() - when < REFUSED_RECHECK:
            return True
        del self.refused[job.id]
        return False

    def _report_not_due(self, statuses: list[str], tried: set[str]) -> None:
        """After one sweep: each job in `statuses` left alone, and why (sleeping, waiting for input, …)."""
        now = self.store.clock.now()
        for job in self.store.list_jobs(statuses, order="oldest", edited=self._edited):
            if (self.queues and job.queue not in self.queues) or (job.status in self.untold and job.id not in tried):
                continue
            reason = not_due_reason(job, now) if job.id not in tried else None
            if reason is None and job.id not in tried and job.queue in self.full:
                reason = self.full[job.queue]
            if reason is not None:
                self._report(skipped(job, f"skipped: {reason}"))

    def _edited(self, error: EditedRow) -> None:
        """A job whose row a hand edit made unreadable: not run, said once (again if it reads otherwise)."""
        job_id, message = str(error.job_id), str(error)
        if self.told_edited.get(job_id) != message:
            self.told_edited[job_id] = message
            self._report(edited_not_run(job_id, error))

    # ---- children ---------------------------------------------------------

    def _idle(self) -> WorkerProcess | None:
        idle = next((child for child in self.children if child.job_id is None), None)
        if idle is None and len(self.children) < self.size:
            idle = self._start_child()
        return idle

    def _room(self) -> bool:
        """Whether a child could take a job now (an idle one, or room to start one): asked before a look,
        which starts a child only for a job it hands out (nothing due: no process started)."""
        return len(self.children) < self.size or any(child.job_id is None for child in self.children)

    def _busy(self) -> bool:
        return any(child.job_id is not None for child in self.children)

    def _start_child(self) -> WorkerProcess:
        child = start_worker_process(self.store.url, self.options, self.prefix)
        self.children.append(child)
        return child

    def _assign(self, child: WorkerProcess, job_id: str) -> None:
        child.job_id = job_id
        child.conn.send(job_id)

    def _wait(self, timeout: float | None) -> None:
        """Take the children's answers and deaths, and pass new signals on, for at most `timeout` seconds."""
        self._pass_on_signals()
        waitables = [child.conn for child in self.children] + [child.process.sentinel for child in self.children]
        limit = _WAKE_SECONDS if timeout is None else min(timeout, _WAKE_SECONDS)
        for ready in wait(waitables, limit) if waitables else []:
            child = next((c for c in self.children if ready in (c.conn, c.process.sentinel)), None)
            if child is None:
                continue
            if ready is child.conn:
                self._answer(child)
            else:
                self._died(child)
        if not waitables and timeout:
            self.store.clock.sleep(limit)

    def _answer(self, child: WorkerProcess) -> None:
        try:
            result = child.conn.recv()
        except (EOFError, OSError):
            self._died(child)
            return
        child.job_id = None
        offered = self.offered.pop(result.job_id, None)
        if offered is not None and (result.exit_code == EXIT_UNTRUSTED or result.edited):
            self.refused[result.job_id] = (offered, self.store.clock.monotonic())
        elif offered is not None and result.skipped:  # changed since the look (another runner took it):
            self.batch.clear()  # so may the rest of what it read; the next job comes from a new look
        if not (self.worker and result.skipped):
            self._report(result)

    def _died(self, child: WorkerProcess) -> None:
        child.process.join(timeout=5)
        if child in self.children:
            self.children.remove(child)
        if child.job_id is None:
            return
        self.offered.pop(child.job_id, None)
        code = child.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        reason = f"worker process {child.pid} died ({how}) while running the job"
        marked = self.store.fail_orphan(child.job_id, host_name(), child.pid, reason)
        self._report(
            RunResult(
                job_id=child.job_id,
                script="",
                status=JobStatus.FAILED if marked else "unknown",
                reason=reason,
                exit_code=EXIT_FAILED,
                attempt=0,
            )
        )

    def _report(self, result: RunResult) -> None:
        if not self.worker:
            self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def _pass_on_signals(self) -> None:
        """Each signal the parent got, once to each busy child: a graceful first one as SIGUSR1."""
        count = len(self.shutdown.signals)
        if count == self.shutdown.passed_on:
            return
        for child in self.children:
            while child.job_id is not None and child.signalled < count:
                signum = self.shutdown.signals[child.signalled]
                child.signalled += 1
                try:
                    if self.graceful and child.signalled == 1:
                        os.kill(child.pid, GRACEFUL)
                    else:
                        os.killpg(child.pid, signum)  # the job's own child processes too
                except ProcessLookupError:
                    pass
        for number in range(self.shutdown.passed_on + 1, count + 1):
            if self.shutdown.announce is not None:
                self.shutdown.announce(
                    "shutting down: the running blocks finish, then their jobs are handed back (a second signal "
                    "interrupts them)"
                    if self.graceful and number == 1
                    else "interrupting the running job(s); no new job is taken"
                )
        self.shutdown.passed_on = count

    def _stopping_done(self) -> bool:
        return self.shutdown.requested and not self._busy()

    def close(self) -> None:
        for child in self.children:
            with suppress(OSError, BrokenPipeError):
                child.conn.send(None)
        for child in self.children:
            child.process.join(timeout=60)
            if child.process.is_alive():
                child.process.kill()
            child.conn.close()


def _within_limits(jobs: list[JobView], loads: dict[str, tuple[int, int]]) -> list[JobView]:
    """`jobs` less those of a limited queue beyond its room now (its limit less its Running jobs);
    the claim keeps the limit anyway (psflow.store.queues): this only spares claims bound to fail."""
    room = {name: most - count for name, (most, count) in loads.items()}
    kept = []
    for job in jobs:
        if job.queue in room and job.status != JobStatus.RUNNING:  # a take-over adds nothing to the count
            if room[job.queue] <= 0:
                continue
            room[job.queue] -= 1
        kept.append(job)
    return kept
