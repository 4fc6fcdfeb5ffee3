"""JobStore: every read and write psflow makes, behind one narrow interface.

The hot path (saving a completed block) runs one statement built once, in
autocommit mode: one committed transaction per block. Replay data for a whole
job comes back in one query at attempt start.
"""

from __future__ import annotations

import json
import time
from typing import NamedTuple

from peewee import Database, DatabaseError, IntegrityError, chunked, fn

from psflow.store.errors import AmbiguousJob, StoreError, UnknownJob
from psflow.store.models import Attempt, Block, Job, Signal, Workflow

FINAL_STATUSES = ("Completed", "Cancelled")


class _JobChanged(Exception):
    """A job changed between reading it and changing it: the change is rolled back."""

    def __init__(self, job: Job) -> None:
        super().__init__(job.id)
        self.job = job


def _refused_write(error: DatabaseError) -> StoreError:
    """A database error while recording a block, as a StoreError with the database's first line."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return StoreError(f"the database refused the write: {message}")


class BlockRecord(NamedTuple):
    """One block's outcome, as written at its end and read back for replay."""

    name: str
    status: str
    saved: str | None
    mutated: str | None
    exit_kind: str | None
    returned: str | None
    output: str | None
    error: str | None
    started_at: float
    ended_at: float
    attempt: int
    host: str
    pid: int
    tries: int = 1
    fingerprint: str | None = None


_BLOCK_FIELDS = [getattr(Block, field) for field in BlockRecord._fields]


class JobStore:
    """Jobs, attempts and blocks in one database (SQLite, PostgreSQL, …)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._save_block_sql = self._build_save_block_sql()
        self._completed_sql = self._build_completed_sql()

    # ---- jobs -------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        *,
        name: str,
        script: str,
        source: str,
        source_sha256: str,
        args: list[str],
        host: str,
        pid: int,
        lease_seconds: float,
        workflow: str | None = None,
        workflow_version: int | None = None,
    ) -> Job | None:
        """Insert a new job already claimed by this process; None if the id is taken."""
        now = time.time()
        try:
            with self.db.atomic():
                return Job.create(
                    id=job_id,
                    name=name,
                    script=script,
                    source=source,
                    source_sha256=source_sha256,
                    args=json.dumps(args),
                    status="Running",
                    created_at=now,
                    updated_at=now,
                    owner_host=host,
                    owner_pid=pid,
                    lease_until=now + lease_seconds,
                    attempts=1,
                    workflow=workflow,
                    workflow_version=workflow_version,
                )
        except IntegrityError:
            return None

    def get_job(self, job_id: str) -> Job | None:
        return Job.get_or_none(Job.id == job_id)

    def find_job(self, id_or_prefix: str) -> Job:
        """The job with this id, or the only job whose id starts with it."""
        exact = self.get_job(id_or_prefix)
        if exact is not None:
            return exact
        # LIKE is case-insensitive on some backends: keep only true prefixes.
        found = Job.select(Job.id).where(Job.id.startswith(id_or_prefix)).limit(50) if id_or_prefix else []
        matches = [job for job in found if job.id.startswith(id_or_prefix)]
        if not matches:
            raise UnknownJob(f"no job with id {id_or_prefix!r}: `psflow jobs` lists them")
        if len(matches) > 1:
            raise AmbiguousJob(
                f"job id prefix {id_or_prefix!r} is ambiguous ({matches[0].id}, {matches[1].id}, …): give more characters"
            )
        return self.get_job(matches[0].id)

    def list_jobs(
        self, statuses: list[str] | None = None, limit: int | None = None, *, order: str = "newest"
    ) -> list[Job]:
        """Jobs by last update: newest first (for people) or oldest first (for fair resuming)."""
        updated = Job.updated_at.desc() if order == "newest" else Job.updated_at.asc()
        query = Job.select().order_by(updated, Job.id)
        if statuses:
            query = query.where(Job.status.in_(statuses))
        if limit is not None:
            query = query.limit(limit)
        return list(query)

    def claim_job(self, job: Job, *, host: str, pid: int, lease_seconds: float) -> bool:
        """Take `job` for this process: one conditional UPDATE, rowcount 1 means it is ours.

        A Running job can be taken only once its lease ran out (its runner died).
        """
        now = time.time()
        condition = (Job.id == job.id) & (Job.status == job.status)
        if job.status == "Running":
            condition &= Job.lease_until < now
        claimed = (
            Job.update(
                status="Running",
                owner_host=host,
                owner_pid=pid,
                lease_until=now + lease_seconds,
                attempts=Job.attempts + 1,
                updated_at=now,
                due_at=None,  # a timer it slept on is over; the attempt sets a new one if it sleeps again
            )
            .where(condition)
            .execute()
        )
        return claimed == 1

    def update_source(self, job_id: str, source: str, source_sha256: str) -> None:
        """Keep the job's snapshot of its script current (a server without the file runs it)."""
        Job.update(source=source, source_sha256=source_sha256).where(Job.id == job_id).execute()

    def renew_lease(self, job_id: str, pid: int, lease_seconds: float) -> bool:
        """Push the lease forward; False if the job is no longer ours."""
        now = time.time()
        renewed = (
            Job.update(lease_until=now + lease_seconds)
            .where((Job.id == job_id) & (Job.status == "Running") & (Job.owner_pid == pid))
            .execute()
        )
        return renewed == 1

    def fail_orphan(self, job_id: str, host: str, pid: int, reason: str) -> bool:
        """Mark a job Failed whose runner process (host, pid) died; False if it is no longer that runner's."""
        now = time.time()
        with self.db.atomic():
            failed = (
                Job.update(status="Failed", reason=reason, lease_until=None, updated_at=now)
                .where(
                    (Job.id == job_id) & (Job.status == "Running") & (Job.owner_host == host) & (Job.owner_pid == pid)
                )
                .execute()
            )
            if failed:
                Attempt.update(ended_at=now, outcome="Failed", reason=reason).where(
                    (Attempt.job == job_id) & (Attempt.pid == pid) & (Attempt.ended_at.is_null())
                ).execute()
        return failed == 1

    # ---- attempts ---------------------------------------------------------

    def start_attempt(self, job_id: str, number: int, *, host: str, pid: int, source_sha256: str) -> None:
        Attempt.create(
            job=job_id, number=number, host=host, pid=pid, source_sha256=source_sha256, started_at=time.time()
        )

    def finish_attempt(
        self, job_id: str, number: int, *, status: str, reason: str | None, due_at: float | None = None
    ) -> None:
        """Record how the attempt ended and release the job, in one transaction.

        `due_at`: the job stopped on a durable timer and is not to be taken before then.
        """
        now = time.time()
        with self.db.atomic():
            Attempt.update(ended_at=now, outcome=status, reason=reason).where(
                (Attempt.job == job_id) & (Attempt.number == number)
            ).execute()
            Job.update(status=status, reason=reason, updated_at=now, lease_until=None, due_at=due_at).where(
                Job.id == job_id
            ).execute()

    def attempts(self, job_id: str) -> list[Attempt]:
        return list(Attempt.select().where(Attempt.job == job_id).order_by(Attempt.number))

    def last_attempt(self, job_id: str) -> Attempt | None:
        return Attempt.select().where(Attempt.job == job_id).order_by(Attempt.number.desc()).first()

    # ---- blocks -----------------------------------------------------------

    def completed_blocks(self, job_id: str) -> dict[str, BlockRecord]:
        """Every completed block of the job, by name (the latest run wins): one query."""
        cursor = self.db.execute_sql(self._completed_sql, (job_id, "Completed"))
        return {row[0]: BlockRecord(*row) for row in cursor.fetchall()}

    def save_block(self, job_id: str, record: BlockRecord) -> None:
        """Record one run of a block: one INSERT, one committed transaction."""
        try:
            self.db.execute_sql(self._save_block_sql, (job_id, *record))
        except DatabaseError as error:
            raise _refused_write(error) from None

    def replace_block(self, job_id: str, record: BlockRecord) -> None:
        """Overwrite the block's row of this attempt: a retried block's tries, or a block inside one run again."""
        changes = {field: value for field, value in zip(_BLOCK_FIELDS, record) if field is not Block.name}
        key = (Block.job == job_id) & (Block.name == record.name) & (Block.attempt == record.attempt)
        try:
            Block.update(changes).where(key).execute()
        except DatabaseError as error:
            raise _refused_write(error) from None

    def blocks(self, job_id: str) -> list[Block]:
        """Every recorded run of the job's blocks, in the order they ran."""
        return list(Block.select().where(Block.job == job_id).order_by(Block.id))

    def first_block_start(self, job_id: str, name: str) -> float | None:
        """When block `name` of the job first started (a wait_for's first wait), or None."""
        return (
            Block.select(fn.MIN(Block.started_at)).where((Block.job == job_id) & (Block.name == name)).scalar()
        )

    def completed_wait_names(self, job_id: str) -> dict[str, int]:
        """Input names the job has already read with wait_for, and the attempt that read each."""
        rows = Block.select(Block.name, Block.attempt).where(
            (Block.job == job_id) & (Block.status == "Completed") & Block.name.startswith("wait_for:")
        )
        # LIKE may ignore case: keep only true prefixes.
        return {row.name[len("wait_for:"):]: row.attempt for row in rows if row.name.startswith("wait_for:")}

    # ---- inputs (signals) ---------------------------------------------------

    def add_inputs(self, job_ids: list[str], inputs: dict[str, str], *, host: str, user: str) -> float:
        """Store `inputs` ({name: codec text}) for every job in `job_ids`, in one transaction; the time."""
        now = time.time()
        rows = [
            {"job": job_id, "name": name, "value": value, "host": host, "user": user, "created_at": now}
            for job_id in job_ids
            for name, value in inputs.items()
        ]
        try:
            with self.db.atomic():
                Signal.insert_many(rows).as_rowcount().execute()  # no ids wanted
        except DatabaseError as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise StoreError(f"the database refused the input: {message}") from None
        return now

    def latest_inputs(self, job_id: str) -> dict[str, str]:
        """The job's received inputs, {name: codec text}; the last one sent wins. One query."""
        rows = Signal.select(Signal.name, Signal.value).where(Signal.job == job_id).order_by(Signal.id).tuples()
        return dict(rows)

    def inputs(self, job_id: str) -> list[Signal]:
        """Every input sent to the job, in the order it arrived."""
        return list(Signal.select().where(Signal.job == job_id).order_by(Signal.id))

    # ---- registered workflows ---------------------------------------------

    def register_workflow(
        self, name: str, *, source: str, source_sha256: str, script: str, host: str, user: str
    ) -> tuple[Workflow, bool]:
        """Store `source` as the next version of workflow `name`; (that version, True).

        If the newest version already has this source, nothing is written: (it, False).
        Two registrations at once: the unique (name, version) index makes one retry.
        """
        for _ in range(5):
            newest = self.workflow(name)
            if newest is not None and newest.source_sha256 == source_sha256:
                return newest, False
            try:
                with self.db.atomic():
                    created = Workflow.create(
                        name=name,
                        version=newest.version + 1 if newest is not None else 1,
                        source=source,
                        source_sha256=source_sha256,
                        script=script,
                        created_at=time.time(),
                        host=host,
                        user=user,
                    )
                return created, True
            except IntegrityError:
                continue  # another registration took this version number a moment ago
        raise StoreError(f"cannot register workflow {name!r}: too many registrations at once, try again")

    def workflow(self, name: str, version: int | None = None) -> Workflow | None:
        """Version `version` of workflow `name`, or its newest version."""
        query = Workflow.select().where(Workflow.name == name)
        if version is not None:
            return query.where(Workflow.version == version).first()
        return query.order_by(Workflow.version.desc()).first()

    def workflow_versions(self, name: str) -> list[Workflow]:
        """Every version of workflow `name`, oldest first, without their source."""
        fields = [field for field in Workflow._meta.sorted_fields if field is not Workflow.source]
        return list(Workflow.select(*fields).where(Workflow.name == name).order_by(Workflow.version))

    def list_workflows(self) -> list[tuple[Workflow, int, float]]:
        """Each workflow's newest version (without its source), how many versions it has, and
        when the first was registered; by name. Two queries whatever the number of versions."""
        stats = {
            name: (newest, count, first)
            for name, newest, count, first in Workflow.select(
                Workflow.name, fn.MAX(Workflow.version), fn.COUNT(Workflow.id), fn.MIN(Workflow.created_at)
            )
            .group_by(Workflow.name)
            .tuples()
        }
        if not stats:
            return []
        fields = [field for field in Workflow._meta.sorted_fields if field is not Workflow.source]
        newest = {version for version, _, _ in stats.values()}
        rows = (
            Workflow.select(*fields)
            .where(Workflow.name.in_(list(stats)) & Workflow.version.in_(list(newest)))
            .order_by(Workflow.name)
        )
        return [
            (row, stats[row.name][1], stats[row.name][2]) for row in rows if row.version == stats[row.name][0]
        ]

    def move_to_version(self, job_id: str, *, version: int, script: str) -> None:
        """Record that the job now runs version `version` of its workflow (`script` names it)."""
        Job.update(workflow_version=version, script=script).where(Job.id == job_id).execute()

    # ---- history: reading it, and changing it (psflow.operations) ------------

    def block_runs(self, job_id: str, *, after_id: int = 0) -> list[Block]:
        """The job's block runs recorded after row `after_id`, output included, in the order recorded."""
        return list(Block.select().where((Block.job == job_id) & (Block.id > after_id)).order_by(Block.id))

    def block_fingerprints(self, job_id: str) -> dict[tuple[str, int], str]:
        """{(block name, attempt): fingerprint of the code that run had}, for runs that recorded one."""
        rows = Block.select(Block.name, Block.attempt, Block.fingerprint).where(
            (Block.job == job_id) & Block.fingerprint.is_null(False)
        )
        return {(name, attempt): fingerprint for name, attempt, fingerprint in rows.tuples()}

    def mark_rerun(self, job: Job, names: list[str], *, changes: dict) -> bool:
        """Set the Completed runs of blocks `names` to Rerun (replay skips them; history keeps them)
        and apply `changes` to the job, in one transaction. False, nothing written, if the job
        changed since `job` was read."""
        try:
            with self.db.atomic():
                self._update_if_unchanged(job, changes)
                for chunk in chunked(names, 200):
                    Block.update(status="Rerun").where(
                        (Block.job == job.id) & (Block.status == "Completed") & Block.name.in_(chunk)
                    ).execute()
        except _JobChanged:
            return False
        return True

    def set_status(self, job: Job, *, status: str, reason: str | None, end_attempts: bool = False) -> bool:
        """Move `job` to `status` in one transaction (with `end_attempts`, unfinished attempts end so too).
        False, nothing written, if the job changed since it was read (or a Running one holds its lease)."""
        now = time.time()
        changes = {"status": status, "reason": reason, "lease_until": None, "due_at": None}
        try:
            with self.db.atomic():
                self._update_if_unchanged(job, changes, now=now)
                if end_attempts:
                    Attempt.update(ended_at=now, outcome=status, reason=reason).where(
                        (Attempt.job == job.id) & Attempt.ended_at.is_null()
                    ).execute()
        except _JobChanged:
            return False
        return True

    def delete_jobs(self, jobs: list[Job], *, force: bool = False) -> dict[str, int] | Job:
        """Delete `jobs` with their attempts, block runs and inputs in one transaction; how many rows
        of each. If one changed since it was read (or, unless `force`, is Running with its lease
        held), nothing is deleted and that job is returned."""
        try:
            with self.db.atomic():
                for job in jobs:
                    self._update_if_unchanged(job, {}, lapsed_only=not force)  # also locks the row
                return self._delete_ids([job.id for job in jobs])
        except _JobChanged as changed:
            return changed.job

    def prunable_jobs(self, statuses: list[str], updated_before: float) -> list[Job]:
        """Jobs in `statuses` last updated before `updated_before`, oldest first."""
        condition = Job.status.in_(statuses) & (Job.updated_at < updated_before)
        return list(Job.select().where(condition).order_by(Job.updated_at, Job.id))

    def prune_jobs(self, statuses: list[str], updated_before: float) -> tuple[list[str], dict[str, int]]:
        """Delete every job in `statuses` last updated before `updated_before`, with its history,
        in one transaction; (their ids, rows deleted per table). Any change to a job moves its
        `updated_at` on, so a job resumed meanwhile no longer matches."""
        condition = Job.status.in_(statuses) & (Job.updated_at < updated_before)
        with self.db.atomic():
            Job.update(updated_at=Job.updated_at).where(condition).execute()  # lock them (PostgreSQL, MS SQL)
            ids = [job_id for (job_id,) in Job.select(Job.id).where(condition).order_by(Job.id).tuples()]
            counts = self._delete_ids(ids, condition)
        return ids, counts

    def _update_if_unchanged(
        self, job: Job, changes: dict, *, now: float | None = None, lapsed_only: bool = True
    ) -> None:
        """Apply `changes` (and a new updated_at) to `job` if its status and attempt count are still
        what was read, and a Running job's lease ran out (unless not `lapsed_only`); else raise
        _JobChanged, which rolls the enclosing transaction back."""
        now = time.time() if now is None else now
        condition = (Job.id == job.id) & (Job.status == job.status) & (Job.attempts == job.attempts)
        if job.status == "Running" and lapsed_only:
            condition &= Job.lease_until.is_null() | (Job.lease_until < now)
        if Job.update(updated_at=now, **changes).where(condition).execute() != 1:
            raise _JobChanged(job)

    def _delete_ids(self, ids: list[str], condition=None) -> dict[str, int]:
        """Delete the jobs `ids` (that still match `condition`) and all their rows; counts per table.
        Children first: it does not rely on ON DELETE CASCADE, which older tables may lack."""
        counts = dict.fromkeys(("jobs", "attempts", "blocks", "inputs"), 0)
        for chunk in chunked(ids, 200):
            counts["inputs"] += Signal.delete().where(Signal.job.in_(chunk)).execute()
            counts["blocks"] += Block.delete().where(Block.job.in_(chunk)).execute()
            counts["attempts"] += Attempt.delete().where(Attempt.job.in_(chunk)).execute()
            jobs = Job.id.in_(chunk) if condition is None else Job.id.in_(chunk) & condition
            counts["jobs"] += Job.delete().where(jobs).execute()
        return counts

    # ---- statements built once ------------------------------------------

    def _build_save_block_sql(self) -> str:
        fields = [Block.job, *_BLOCK_FIELDS]
        query = Block.insert_many([tuple(None for _ in fields)], fields=fields).returning()
        sql, _ = self.db.get_sql_context().sql(query).query()
        return sql

    def _build_completed_sql(self) -> str:
        query = Block.select(*_BLOCK_FIELDS).where((Block.job == "") & (Block.status == "")).order_by(Block.id)
        sql, _ = self.db.get_sql_context().sql(query).query()
        return sql
