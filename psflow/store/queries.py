"""What every group of the store's queries shares: its database, its tables, its clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peewee import Database

    from psflow.clock import Clock
    from psflow.store.prebuilt import PrebuiltStatements
    from psflow.store.tables import Tables


class Queries:
    """Base of the query groups Store is made of (jobs, blocks, inputs, workflows, changes)."""

    db: Database
    tables: Tables
    clock: Clock
    prebuilt: PrebuiltStatements  # the statements every job's run takes (psflow.store.prebuilt)
