"""Everything SQL: connecting from a URL, the schema, and the Store's reads and writes.

Knows nothing of libcst or of how scripts run.
"""

from __future__ import annotations

from psflow.clock import SYSTEM_CLOCK, Clock
from psflow.store.store import Store
from psflow.store.urls import default_url, describe, mask_password, open_database
from psflow.store.views import AttemptView, BlockRecord, BlockRun, InputView, JobView, WorkflowView

__all__ = [
    "AttemptView",
    "BlockRecord",
    "BlockRun",
    "InputView",
    "JobView",
    "Store",
    "WorkflowView",
    "default_url",
    "describe",
    "mask_password",
    "open_store",
]


def open_store(url: str | None, *, clock: Clock = SYSTEM_CLOCK, create: bool = True) -> Store:
    """The store for `url` (or the default SQLite file, whose folder psflow makes when needed). A
    URL that names no usable database is refused now; the connection is made, and the schema
    checked, when the store is first used.

    `create=False` is for commands that only read: a database that does not exist, or has no
    psflow tables, is refused (StoreError saying which `psflow init` makes it), never created.
    """
    default = not url
    url = url or default_url()
    return Store(open_database(url, create=create, folders=default), url, clock=clock, create=create)
