"""Approval gate: change data once, wait for a person to sign off, then finish.

The scenario psflow comes from. Step1 runs an UPDATE that must never run twice;
then `wait_for("approval")` stops the job as Waiting until someone sends it the
input `approval`; Finish reports with the values Step1 computed, even though it
runs in a later process, maybe on another server.

Run it from the folder where the side-effect log should live:

    psflow exec samples/approval.py dbo.Invoices   # Step1 runs, then: Waiting (waiting for approval), exit 3
    psflow resume                                  # nobody approved yet: skipped (waiting for input approval)
    psflow send ID approval=alice                  # the approver signs off (stored; nothing runs yet)
    psflow resume --status Waiting                 # now it is due: Finish runs, Step1 is not run again (exit 0)
    psflow job ID                                  # Step1 ran in attempt 1, Finish in the last; who approved, when

`psflow send ID approval=alice --resume` approves and finishes in one go.
`sql_side_effects.log` gets exactly one UPDATE line however often the job is
resumed. Set SQL_SERVER to name another server than db01, and APPROVAL_HOURS to
fail the job when nobody approves within that many hours (default 48).
"""

import os
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Outside blocks: evaluated again on every attempt, so keep it cheap and side-effect free.
SERVER = os.environ.get("SQL_SERVER", "db01")
TABLE = sys.argv[1] if len(sys.argv) > 1 else "dbo.Invoices"  # arguments are kept with the job
SIDE_EFFECTS = Path("sql_side_effects.log")
APPROVAL_TIMEOUT = timedelta(hours=float(os.environ.get("APPROVAL_HOURS", "48")))


def run_sql(server: str, statement: str) -> int:
    """Stand-in for a real database call: log the statement, return the rows it touched."""
    with SIDE_EFFECTS.open("a") as log:
        log.write(f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%S} {server} {statement}\n")
    # A real rowcount depends on the data at that moment; random here, so that a
    # second run of this block would show up as a different number.
    return random.randint(1_000, 9_999)


block "Step1":
    # Not idempotent: running it again would archive a second batch.
    archived_at = datetime.now(timezone.utc)
    rows = run_sql(SERVER, f"UPDATE {TABLE} SET archived = 1 WHERE invoice_date < '2020-01-01'")
    print(f"Step1: archived {rows} rows of {TABLE} on {SERVER}; please validate")

# The approval gate. Until `psflow send JOB approval=NAME` arrives, this stops the
# attempt (status Waiting, reason "waiting for approval"). Once read, the value is
# recorded with the job, so every later attempt gets the same approver back. Still
# unapproved APPROVAL_TIMEOUT after the job first waited here: the job fails.
approver = wait_for("approval", timeout=APPROVAL_TIMEOUT)

block "Finish":
    # rows and archived_at were bound in an earlier attempt: psflow gives them back.
    print(
        f"Finish: {rows} rows of {TABLE} archived on {SERVER} at "
        f"{archived_at:%Y-%m-%d %H:%M:%S} UTC, approved by {approver} (attempt {job.attempt})"
    )
