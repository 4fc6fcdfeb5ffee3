"""Registered workflows: a script's source stored in the database as numbered versions.

`psflow exec NAME` runs the newest version on any server, no file needed
(psflow.service.running); a job keeps the version it started with.
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psflow.domain import user_name
from psflow.errors import UsageError
from psflow.loading import load_script
from psflow.service.exec_requests import WORKFLOW_NAME
from psflow.service.trust import job_signer, sign_workflow
from psflow.store import Store


@dataclass(frozen=True)
class Registration:
    """What `register` did: the version that now holds the source, and whether it is new."""

    name: str
    version: int
    created: bool  # False: the newest version already had this source, nothing was written
    source_sha256: str
    same_as: int | None = None  # an older version with the same source (registering it again)


def check_workflow_name(name: str) -> str:
    if not isinstance(name, str) or not WORKFLOW_NAME.fullmatch(name):
        raise UsageError(
            f"workflow name {name!r} is not valid: use letters, digits, '_', '.' or '-' "
            "(at most 255, not starting with '.' or '-')"
        )
    return name


def register(store: Store, name: str, script: str | Path) -> Registration:
    """Store `script`'s source as the next version of workflow `name` (1, 2, …).

    The script must compile (nothing is stored otherwise). If the newest version
    already has exactly this source, no version is created. The version is signed
    with the deployment key (made here on first use).
    """
    check_workflow_name(name)
    loaded = load_script(Path(script))  # missing file or syntax error: nothing is written
    sha256 = hashlib.sha256(loaded.source.encode()).hexdigest()  # of the text as stored and run
    key = job_signer()  # a server with only the public key registers nothing
    workflow, created = store.register_workflow(
        name,
        source=loaded.source,
        source_sha256=sha256,
        script=str(loaded.path),
        host=socket.gethostname(),
        user=user_name(),
        sign=lambda name, version, source: sign_workflow(key, name, version, source),
    )
    same_as = None
    if created:
        same_as = next(
            (
                row.version
                for row in store.workflow_versions(name)
                if row.source_sha256 == sha256 and row.version != workflow.version
            ),
            None,
        )
    return Registration(name, workflow.version, created, sha256, same_as)


def workflows(store: Store) -> list[dict[str, Any]]:
    """Registered workflows by name: the newest version, how many versions, and who registered it."""
    return [
        {**newest.to_json(), "versions": count, "first_registered": first}
        for newest, count, first in store.list_workflows()
    ]


def workflow_versions(store: Store, name: str) -> list[dict[str, Any]]:
    """Every version of workflow `name`, oldest first."""
    rows = store.workflow_versions(name)
    if not rows:
        raise UsageError(f"no workflow named {name!r} is registered: `psflow workflows` lists them")
    return [row.to_json() for row in rows]
