"""What can go wrong between psflow and its database, in words a user can act on."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be used as asked (bad URL, unreachable, unwritable, wrong schema)."""


class UnknownJob(StoreError):
    """No job has that id or id prefix."""


class AmbiguousJob(StoreError):
    """More than one job starts with that prefix."""
