"""JobStore: every read and write psflow makes, behind one narrow interface.

The hot path (saving a completed block) runs one statement built once, in
autocommit mode: one committed transaction per block. Replay data for a whole
job comes back in one query at attempt start.
"""

from __future__ import annotations

import json
import time
from typing import NamedTuple

from peewee import EXCLUDED, Database, DatabaseError, IntegrityError

from psflow.store.errors import AmbiguousJob, StoreError, UnknownJob
from psflow.store.models import Attempt, Block, Job

FINAL_STATUSES = ("Completed", "Cancelled")


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

    def finish_attempt(self, job_id: str, number: int, *, status: str, reason: str | None) -> None:
        """Record how the attempt ended and release the job, in one transaction."""
        now = time.time()
        with self.db.atomic():
            Attempt.update(ended_at=now, outcome=status, reason=reason).where(
                (Attempt.job == job_id) & (Attempt.number == number)
            ).execute()
            Job.update(status=status, reason=reason, updated_at=now, lease_until=None).where(
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
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise StoreError(f"the database refused the write: {message}") from None

    def blocks(self, job_id: str) -> list[Block]:
        """Every recorded run of the job's blocks, in the order they ran."""
        return list(Block.select().where(Block.job == job_id).order_by(Block.id))

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
