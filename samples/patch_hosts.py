"""Patch 20 hosts, 4 at a time, each with a health check; a person approves before the second half.

Each host is one call of the `@block` function `patch`, run by `patch.map(...)` in
threads, at most 4 at once: its block is `Patch[web01]`, `Patch[web02]`, … and
runs once per job. The first half is patched, then the job stops Waiting for the
input `go` (someone looks at the first half); then the second half.

Run it from the folder where the side-effect log should live:

    psflow exec samples/patch_hosts.py                # hosts 1-10 patched, then: Waiting for go, exit 3
    psflow send ID go=alice --resume                  # hosts 11-20 patched (1-10 are not patched again)
    psflow job ID                                     # Patch[web01] … Patch[web20], who said go

A host whose health check fails fails its call: the other calls still run to the
end, then the job fails naming the failed hosts (an ExceptionGroup). Fix the host
and `psflow resume --status Failed`: only the failed hosts are patched again.
To see it, create a file `web13.unhealthy` in the folder first (and delete it to
fix the host). HOSTS overrides the host list (comma-separated).
"""

import os
from datetime import datetime, timezone
from pathlib import Path

HOSTS = os.environ.get("HOSTS", ",".join(f"web{n:02d}" for n in range(1, 21))).split(",")
PATCHED = Path("patched_hosts.log")  # one line per patch actually applied


@block("Patch", retries=1)
def patch(host: str) -> str:
    """Apply the patch to one host, then check its health; return the version it now runs."""
    with PATCHED.open("a") as log:  # stand-in for ssh + package manager
        log.write(f"{datetime.now(timezone.utc):%H:%M:%S} {host}\n")
    print(f"patched {host}")
    if Path(f"{host}.unhealthy").exists():  # stand-in for the health check
        raise RuntimeError(f"{host}: health check failed after the patch")
    return "2.4.1"


half = len(HOSTS) // 2
first = patch.map(HOSTS[:half], limit=4)
print(f"first half: {len(first)} hosts on {sorted(set(first))}")

approver = wait_for("go")  # someone looked at the first half

second = patch.map(HOSTS[half:], limit=4)
print(f"second half: {len(second)} hosts on {sorted(set(second))}, approved by {approver}")
job.result = dict(zip(HOSTS, first + second, strict=True))
