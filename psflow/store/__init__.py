"""Everything SQL: connecting from a URL, the schema, and the Store's reads and writes.

Knows nothing of libcst or of how scripts run.
"""

from __future__ import annotations

from collections.abc import Callable

from psflow.clock import SYSTEM_CLOCK, Clock
from psflow.store.children import ChildView
from psflow.store.store import Store
from psflow.store.urls import default_url, describe, mask_password, open_database
from psflow.store.views import AttemptView, BlockRecord, BlockRun, InputView, JobView, QueueView, WorkflowView

__all__ = [
    "AttemptView",
    "BlockRecord",
    "BlockRun",
    "ChildView",
    "InputView",
    "JobView",
    "QueueView",
    "Store",
    "WorkflowView",
    "default_url",
    "describe",
    "mask_password",
    "open_store",
]


def open_store(
    url: str | None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    create: bool = True,
    notice: Callable[[str], None] | None = None,
) -> Store:
    """The store for `url` (or the default SQLite file, whose folder psflow makes when needed). A
    URL that names no usable database is refused now; the connection is made, and the schema
    checked, when the store is first used.

    A call meeting a locked or unreachable database is tried again for PSFLOW_DB_RETRY_SECONDS
    (psflow.store.retry); `notice` is told when that starts.

    `create=False` is for commands that only read: a database that does not exist, or has no
    psflow tables, is refused (StoreError saying which `psflow init` makes it), never created.
    """
    from psflow.store.retry import configured_seconds

    default = not url
    url = url or default_url()
    database = open_database(url, create=create, folders=default)
    return Store(database, url, clock=clock, create=create, retry_seconds=configured_seconds(), notice=notice)
