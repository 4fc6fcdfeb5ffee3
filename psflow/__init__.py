"""psflow: make a plain Python script resumable.

Blocks run once per job; what they bind is saved and given back on later runs.
This module stays light: importing it loads neither the database layer nor libcst.
"""

from __future__ import annotations

from psflow.blocks import BlockError, block, job, stop

__version__ = "0.1.0"

__all__ = ["BlockError", "__version__", "block", "job", "stop"]
