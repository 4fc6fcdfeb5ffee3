"""Roll a release out host by host: one block per host, named after the host.

A host that refuses a connection is tried twice more (after 0.5 s, then 1 s);
a deploy that still breaks half-way is resumed where it stopped: hosts already
done are replayed (not deployed again), only the remaining ones run.

Run it from the folder where deploy.log should be written:

    psflow exec samples/deploy_hosts.py web01 web02 web03    # default: web01 web02 db01
    touch web02.down                                         # or: DEPLOY_FAIL_HOST=web02 psflow exec …
    psflow exec samples/deploy_hosts.py web01 web02 web03    # web01 deployed, web02 fails 3 tries (exit 1)
    rm web02.down                                            # the host is back
    psflow resume --status Failed                            # web02 and web03 only (exit 0)

The host list is kept with the job, so `psflow resume` needs no arguments.
Set RELEASE to deploy another version than the default.
"""

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

hosts = sys.argv[1:] or ["web01", "web02", "db01"]
release = os.environ.get("RELEASE", "2026.11.1")
DEPLOY_LOG = Path("deploy.log")
deployed = {}  # host -> when, filled in by the blocks below and given back on replay


def push_release(host: str, version: str) -> str:
    """Stand-in for scp + systemctl restart: fails for a host that is down."""
    if Path(f"{host}.down").exists() or os.environ.get("DEPLOY_FAIL_HOST") == host:
        raise ConnectionError(f"{host}: connection refused (is the host down?)")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    with DEPLOY_LOG.open("a") as log:
        log.write(f"{stamp} {host} {version}\n")
    return stamp


print(f"deploying {release} to {len(hosts)} host(s): {', '.join(hosts)}")
for host in hosts:
    # A dynamic name: each host is its own block, completed (or not) on its own.
    with block(f"deploy-{host}", retries=2, backoff=0.5):
        deployed[host] = push_release(host, release)
        print(f"  {host}: {release} deployed")

print(f"release {release} is on {len(deployed)} host(s): {', '.join(sorted(deployed))}")
