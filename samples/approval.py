"""Approval gate: change data once, wait for a person to sign off, then finish.

The scenario psflow comes from. Step1 runs an UPDATE that must never run twice;
VerifyApproval stops the job as Waiting until someone approves the result by
creating `approved.flag`; Finish reports with the values Step1 computed, even
though it runs in a later process, maybe on another server.

Run it from the folder where the side-effect log and the flag should live:

    psflow exec samples/approval.py dbo.Invoices   # Step1 runs, then: Waiting (exit 3)
    psflow resume                                  # not approved yet: Waiting again
    echo "alice" > approved.flag                   # the approver signs off
    psflow resume --status Waiting                 # Finish runs: Completed (exit 0)
    psflow job ID                                  # Step1 ran in attempt 1, Finish in the last

`sql_side_effects.log` gets exactly one UPDATE line however often the job is
resumed. Set SQL_SERVER to name another server than db01.
"""

import os
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

# Outside blocks: evaluated again on every attempt, so keep it cheap and side-effect free.
SERVER = os.environ.get("SQL_SERVER", "db01")
TABLE = sys.argv[1] if len(sys.argv) > 1 else "dbo.Invoices"  # arguments are kept with the job
SIDE_EFFECTS = Path("sql_side_effects.log")
APPROVAL = Path("approved.flag")


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

with block("VerifyApproval"):
    # stop() inside a block leaves the block unfinished, so it is checked again on every resume.
    if not APPROVAL.exists():
        print(f"VerifyApproval: no {APPROVAL} in {Path.cwd()} yet")
        stop("Waiting", reason=f"approval pending: create {APPROVAL} to approve job {job.id}")
    approver = APPROVAL.read_text().strip() or "unknown"
    print(f"VerifyApproval: approved by {approver}")

block "Finish":
    # rows, archived_at and approver were bound in earlier attempts: psflow gives them back.
    print(
        f"Finish: {rows} rows of {TABLE} archived on {SERVER} at "
        f"{archived_at:%Y-%m-%d %H:%M:%S} UTC, approved by {approver} (attempt {job.attempt})"
    )
