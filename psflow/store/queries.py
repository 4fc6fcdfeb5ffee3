"""What every group of the store's queries shares: its database, its tables, its clock, and what the
tries of one call keep between them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from peewee import chunked, fn

if TYPE_CHECKING:
    import threading

    from peewee import Database

    from psflow.clock import Clock
    from psflow.store.prebuilt import PrebuiltStatements
    from psflow.store.tables import Tables

AGAIN = "again"  # in Queries._kept(): set in every try of a call after the first


class Queries:
    """Base of the query groups Store is made of (jobs, blocks, inputs, workflows, changes)."""

    db: Database
    tables: Tables
    clock: Clock
    prebuilt: PrebuiltStatements  # the statements every job's run takes (psflow.store.prebuilt)
    _calling: threading.local  # this thread's public call, while it runs (psflow.store.store)

    def _kept(self) -> dict[str, Any]:
        """What the tries of this thread's public call keep between them. A call is tried again whole
        after a lost connection (psflow.store.retry), but its first try may have committed and only
        the answer been lost: a later try (AGAIN is set) looks for what the first one wrote, by the
        ids and times it kept here, and reports it done instead of writing it twice."""
        kept: dict[str, Any] = self._calling.kept
        return kept

    def _now(self) -> float:
        """The time this call writes, the same in every try of it (see _kept)."""
        kept = self._kept()
        if "now" not in kept:
            kept["now"] = self.clock.now()
        now: float = kept["now"]
        return now

    def _changed_at(self, job_ids: list[str], now: float) -> bool:
        """Were all these jobs changed at `now` (by this call's first try, see _kept)?"""
        Job = self.tables.job
        changed = 0
        for chunk in chunked(job_ids, 200):
            changed += Job.select(fn.COUNT(Job.id)).where(Job.id.in_(chunk) & (Job.updated_at == now)).scalar()
        return changed == len(job_ids)
