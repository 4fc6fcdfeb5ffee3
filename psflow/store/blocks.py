"""Block runs: the hot path that records each one, and the one query that loads a job's replay data.

Saving a completed block is one prebuilt statement in autocommit mode: one committed
transaction per block. It is fenced: the row is inserted only while the job is still
Running in the attempt that writes it (`INSERT … SELECT … FROM psflow_job WHERE id = ?
AND attempts = ? AND status = 'Running'`), so a runner that lost its lease writes nothing.
Replay data for a whole job comes back in one query.

A run's id orders the job's runs as recorded (`run_id`): its attempt in the high bits, its place
in that attempt below. No two attempts share an id, so a runner fenced out never takes another's;
within an attempt the store counts places itself, starting after the highest id of the attempt
it finds in the database, so the hot path stays one statement.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from peewee import IntegrityError, Value, fn

from psflow import keys
from psflow.domain import JobStatus, RunStatus
from psflow.errors import EditedRow
from psflow.store.prebuilt import prebuild
from psflow.store.queries import Queries
from psflow.store.views import RUN_KINDS, BlockRecord, BlockRun, check_rows

if TYPE_CHECKING:
    from peewee import Database

    from psflow.store.tables import Tables


PLACE_BITS = 32  # a run's place within its attempt: the low bits of its id
PLACES = range(1, 2**PLACE_BITS)  # the places of an attempt's runs
ATTEMPTS = range(1, 2**31)  # the attempts whose runs have ids (32-bit columns on PostgreSQL and SQL Server)
_REMEMBERED_JOBS = 64  # jobs whose last place a store remembers (the rest are read again)


def run_id(attempt: int, place: int) -> int:
    """The id of the `place`-th run (1, 2, …) recorded by attempt `attempt` of a job."""
    return attempt << PLACE_BITS | place


def check_attempt(job_id: str, attempt: int) -> None:
    """EditedRow for an attempt number no run can have: a job row edited by hand (psflow's own
    attempt numbers never get there)."""
    if type(attempt) is not int or not ATTEMPTS[0] <= attempt <= ATTEMPTS[-1]:  # not `in`: a float walks the range
        raise EditedRow(
            f"job {job_id} would be in attempt {attempt}: psflow records attempts 1 to {ATTEMPTS[-1]:,} "
            "only; was the job's row edited?"
        )


def _attempt_ids(job_id: str, attempt: int) -> tuple[int, int]:
    """The first and the last id attempt `attempt`'s runs can have."""
    check_attempt(job_id, attempt)
    return run_id(attempt, PLACES[0]), run_id(attempt, PLACES[-1])


class BlockQueries(Queries):
    _save_block_sql: str
    _completed_sql: str
    _last_place: dict[str, tuple[int, int]]  # job → (attempt, the place of the last run given an id here)
    _places: threading.Lock

    def _prepare_block_statements(self) -> None:
        """Build the hot path's statements once, in this database's dialect."""
        self._save_block_sql = _save_block_sql(self.db, self.tables)
        self._completed_sql = _completed_sql(self.db, self.tables)
        self._last_place = {}
        self._places = threading.Lock()  # threads sharing this store never give two runs one place

    def completed_blocks(self, job_id: str) -> dict[str, BlockRecord]:
        """Every completed block of the job, by name (the latest run wins): one query."""
        cursor = self.db.execute_sql(self._completed_sql, (job_id, RunStatus.COMPLETED))
        return {row[0]: BlockRecord._make(row) for row in cursor.fetchall()}

    def save_block(self, job_id: str, record: BlockRecord) -> int | None:
        """Record one run of a block: one fenced INSERT, one committed transaction. The run's id
        (for replace_block); None, nothing written, if attempt `record.attempt` no longer owns the job.
        Tried again, it keeps its id: a first try that committed is found, not written twice."""
        attempt = record.attempt
        kept = self._kept()
        run = kept.get("run")
        if run is None:
            run = kept["run"] = run_id(attempt, self._next_place(job_id, attempt))
        elif self._has_run(job_id, run, record.name):
            return run
        values = (job_id, run, *record, job_id, attempt, JobStatus.RUNNING)
        try:
            cursor = self.db.execute_sql(self._save_block_sql, values)
        except IntegrityError:
            if not self._has_run(job_id, run):
                raise
            # A run was put at this id meanwhile (by hand): pass it over, counting again from the database.
            with self._places:
                self._last_place.pop(job_id, None)
            del kept["run"]
            return self.save_block(job_id, record)
        return run if cursor.rowcount == 1 else None

    def _has_run(self, job_id: str, run: int, name: str | None = None) -> bool:
        """Is there a run at id `run` (named `name`, if given)?"""
        Block = self.tables.block
        found = (Block.job == job_id) & (Block.id == run)
        if name is not None:
            found &= Block.name == name
        return bool(Block.select(Block.id).where(found).exists())

    def _next_place(self, job_id: str, attempt: int) -> int:
        """The place of the attempt's next run: counted here, read from the database once per attempt
        (or again, once this store has counted for many other jobs since)."""
        with self._places:
            last = self._last_place.get(job_id)
            if last is None or last[0] != attempt:
                if len(self._last_place) >= _REMEMBERED_JOBS:
                    self._last_place.clear()
                Block = self.tables.block
                first, final = _attempt_ids(job_id, attempt)
                highest = (
                    Block.select(fn.MAX(Block.id))
                    .where((Block.job == job_id) & Block.id.between(first, final))
                    .scalar()
                )
                last = (attempt, 0 if highest is None else highest - run_id(attempt, 0))
            place = last[1] + 1
            if place not in PLACES:
                raise EditedRow(
                    f"job {job_id} has a run at the last id of attempt {attempt}: psflow gives no run an id "
                    "after it; was a row put there by hand?"
                )
            self._last_place[job_id] = (attempt, place)
            return place

    def replace_block(self, job_id: str, run: int, record: BlockRecord) -> bool:
        """Overwrite run `run`, the id save_block gave this attempt's row of the block (a retried
        block's tries, or a block inside one run again); fenced like save_block."""
        Block, Job = self.tables.block, self.tables.job
        changes = {getattr(Block, field): value for field, value in zip(BlockRecord._fields, record, strict=True)}
        owned = Job.select(Job.id).where(
            (Job.id == job_id) & (Job.attempts == record.attempt) & (Job.status == JobStatus.RUNNING)
        )
        return Block.update(changes).where((Block.job == job_id) & (Block.id == run) & fn.EXISTS(owned)).execute() == 1

    def block_runs(
        self, job_id: str, *, after_id: int = 0, with_output: bool = False, limit: int | None = None
    ) -> list[BlockRun]:
        """The job's block runs recorded after row `after_id`, in the order recorded (output if asked for;
        the first `limit` only, if given: a page of a transcript too long to hold at once)."""
        Block = self.tables.block
        columns = [getattr(Block, column) for column in BlockRun.COLUMNS]
        if with_output:
            columns += [Block.output, Block.lead]
        query = Block.select(*columns).where((Block.job == job_id) & (Block.id > after_id)).order_by(Block.id)
        if limit is not None:
            query = query.limit(limit)
        # The driver's rows as they come (every column is a plain str, int or float already): peewee's
        # per-column conversion costs more than the query on a job of 100,000 block runs.
        rows = list(self.db.execute(query))
        names = (*BlockRun.COLUMNS, "output", "lead") if with_output else BlockRun.COLUMNS
        check_rows(f"job {job_id}", "a block run", names, RUN_KINDS, rows)
        return [BlockRun(*row) for row in rows]

    def block_names(self, job_id: str) -> list[str]:
        """The names of the job's blocks, in the order they first ran (no run is loaded)."""
        Block = self.tables.block
        query = Block.select(Block.name).where(Block.job == job_id).group_by(Block.name).order_by(fn.MIN(Block.id))
        return [name for (name,) in query.tuples()]

    def first_block_start(self, job_id: str, name: str) -> float | None:
        """When block `name` of the job first started (a wait_for's first wait), or None."""
        Block = self.tables.block
        return Block.select(fn.MIN(Block.started_at)).where((Block.job == job_id) & (Block.name == name)).scalar()

    def completed_wait_names(self, job_id: str) -> dict[str, int]:
        """Input names the job has already read with wait_for, and the attempt that read each."""
        Block = self.tables.block
        rows = Block.select(Block.name, Block.attempt).where(
            (Block.job == job_id) & (Block.status == RunStatus.COMPLETED) & Block.name.startswith(keys.WAIT_PREFIX)
        )
        read = {}
        for name, attempt in rows.tuples():
            input_name = keys.input_of(name)  # LIKE may ignore case: keep only true prefixes
            if input_name is not None:
                read[input_name] = attempt
        return read


def _save_block_sql(db: Database, tables: Tables) -> str:
    """INSERT INTO block (job_id, id, …) SELECT ?, ?, … FROM job WHERE id = ? AND attempts = ? AND status = ?:
    the values come from the parameters, the job row only decides whether there is a row to insert."""
    Block, Job = tables.block, tables.job
    fields = [Block.job, Block.id, *(getattr(Block, field) for field in BlockRecord._fields)]
    values = Job.select(*(Value(None, converter=False) for _ in fields)).where(
        (Job.id == "") & (Job.attempts == 0) & (Job.status == "")
    )
    return prebuild(db, Block.insert_from(values, fields).returning()).sql


def _completed_sql(db: Database, tables: Tables) -> str:
    Block = tables.block
    fields = [getattr(Block, field) for field in BlockRecord._fields]
    return prebuild(db, Block.select(*fields).where((Block.job == "") & (Block.status == "")).order_by(Block.id)).sql
