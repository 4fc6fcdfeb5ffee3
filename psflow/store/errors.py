"""What can go wrong between psflow and its database (defined with all of psflow's errors)."""

from __future__ import annotations

from psflow.errors import AmbiguousJob, StoreError, UnknownJob

__all__ = ["AmbiguousJob", "StoreError", "UnknownJob"]
