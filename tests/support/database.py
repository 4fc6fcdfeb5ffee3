"""The database read (and aged) behind psflow's back: what a test sees, not what psflow reads."""

from __future__ import annotations

import time
from pathlib import Path

from psflow.store.blocks import PLACE_BITS

TABLES = ("psflow_job", "psflow_attempt", "psflow_block", "psflow_signal", "psflow_workflow")


def _connect(db_url: str):
    from playhouse.db_url import connect

    return connect(db_url)


def snapshot(db_url: str) -> dict[str, list[tuple]]:
    """Every row of every psflow table, read without psflow: to show that a command changed nothing."""
    state: dict[str, list[tuple]] = {table: [] for table in TABLES}
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).exists():
        return state
    db = _connect(db_url)
    try:
        present = set(db.get_tables())
        for table in TABLES:
            if table in present:
                state[table] = [tuple(row) for row in db.execute_sql(f"SELECT * FROM {table} ORDER BY 1").fetchall()]
        return state
    finally:
        db.close()


def rows_of(db_url: str, job_id: str) -> dict[str, int]:
    """How many rows job `job_id` has in each table."""
    db = _connect(db_url)
    try:
        counts = {"psflow_job": db.execute_sql(f"SELECT count(*) FROM psflow_job WHERE id = {db.param}", (job_id,))}
        for table in ("psflow_attempt", "psflow_block", "psflow_signal"):
            counts[table] = db.execute_sql(f"SELECT count(*) FROM {table} WHERE job_id = {db.param}", (job_id,))
        return {table: cursor.fetchone()[0] for table, cursor in counts.items()}
    finally:
        db.close()


def age(db_url: str, job_ids: list[str], days: float) -> None:
    """Make jobs look last updated `days` earlier (prune looks at updated_at)."""
    db = _connect(db_url)
    try:
        marks = ", ".join(db.param for _ in job_ids)
        db.execute_sql(
            f"UPDATE psflow_job SET updated_at = updated_at - {days * 86400} WHERE id IN ({marks})", tuple(job_ids)
        )
    finally:
        db.close()


def block_rows(db_url: str, job_id: str, name: str) -> int:
    """Runs of block `name` recorded for the job (0 while psflow has not even made its tables)."""
    from peewee import DatabaseError

    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).exists():
        return 0
    db = _connect(db_url)
    try:
        sql = f"SELECT count(*) FROM psflow_block WHERE job_id = {db.param} AND name = {db.param}"
        return db.execute_sql(sql, (job_id, name)).fetchone()[0]
    except DatabaseError:
        return 0
    finally:
        db.close()


def signal_rows(db_url: str) -> int:
    """Inputs sent to any job (`psflow send`), as stored."""
    return len(snapshot(db_url)["psflow_signal"])


def row_counts_of(db_url: str, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    """Rows in each of `tables` (0 when the table, or the SQLite file, does not exist)."""
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).exists():
        return dict.fromkeys(tables, 0)
    db = _connect(db_url)
    try:
        present = set(db.get_tables())
        return {
            table: db.execute_sql(f"SELECT count(*) FROM {table}").fetchone()[0] if table in present else 0
            for table in tables
        }
    finally:
        db.close()


def timers_run_out(db_url: str, job_id: str) -> None:
    """Time passes for job `job_id`'s timers: every timer it set, and the job itself, are due now.

    The end-to-end tests use long sleeps and this, instead of real waits that a loaded machine can
    overrun; the timers' own arithmetic is tested in-process with a fake clock.
    """
    import time

    from psflow import codec

    db = _connect(db_url)
    try:
        now = time.time() - 1
        db.execute_sql(f"UPDATE psflow_job SET due_at = {db.param} WHERE id = {db.param}", (now, job_id))
        timers = db.execute_sql(
            f"SELECT id, name FROM psflow_block WHERE job_id = {db.param} AND status = 'Completed'", (job_id,)
        ).fetchall()
        for row_id, name in timers:
            if name == "sleep" or name.startswith("sleep#") or "/sleep" in name:
                db.execute_sql(
                    f"UPDATE psflow_block SET returned = {db.param} WHERE id = {db.param}", (codec.encode(now), row_id)
                )
    finally:
        db.close()


def refuse_job_updates(db_url: str) -> None:
    """From now on the database refuses every UPDATE of a job (a trigger), with 'no changes to jobs'."""
    db = _connect(db_url)
    try:
        if db_url.startswith("sqlite"):
            db.execute_sql(
                "CREATE TRIGGER refuse BEFORE UPDATE ON psflow_job BEGIN SELECT RAISE(ABORT, 'no changes to jobs'); END"
            )
        else:
            db.execute_sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no changes to jobs'; END $$ "
                "LANGUAGE plpgsql"
            )
            db.execute_sql("CREATE TRIGGER refuse BEFORE UPDATE ON psflow_job FOR EACH ROW EXECUTE FUNCTION refuse()")
    finally:
        db.close()


def tables_of(db_url: str) -> set[str]:
    """The tables the database has (none when the SQLite file does not exist): read without psflow."""
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).exists():
        return set()
    db = _connect(db_url)
    try:
        return set(db.get_tables())
    finally:
        db.close()


def forge(db_url: str, table: str, key: dict[str, object], **values: object) -> None:
    """Change a row behind psflow's back, as anyone who can write the database can (`key`: which row)."""
    db = _connect(db_url)
    try:
        assignments = ", ".join(f"{column} = {db.param}" for column in values)
        condition = " AND ".join(f"{column} = {db.param}" for column in key)
        cursor = db.execute_sql(
            f"UPDATE {table} SET {assignments} WHERE {condition}", (*values.values(), *key.values())
        )
        assert cursor.rowcount == 1, f"no row {key} in {table}"
    finally:
        db.close()


def plant_run(db_url: str, job_id: str, run: int, name: str) -> None:
    """A Failed block run put at id `run` of the job (its attempt: the id's high bits), by hand."""
    now = time.time()
    plant(
        db_url,
        "psflow_block",
        job_id=job_id,
        id=run,
        name=name,
        status="Failed",
        started_at=now,
        ended_at=now,
        attempt=run >> PLACE_BITS,
        host="x",
        pid=1,
        tries=1,
    )


def plant(db_url: str, table: str, **values: object) -> None:
    """Insert a row behind psflow's back, as anyone who can write the database can."""
    db = _connect(db_url)
    try:
        marks = ", ".join(db.param for _ in values)
        db.execute_sql(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({marks})", tuple(values.values()))
    finally:
        db.close()
