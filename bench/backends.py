"""Run a measurement on SQLite, then on a throwaway local PostgreSQL cluster (tests/support/postgres.py).

`make_url(folder, label)` gives the measurement a database: a file in `folder` on SQLite, a new
database named after `label` on PostgreSQL (fsync off: its figures show psflow's own cost).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

MakeUrl = Callable[[Path, object], str]


def on_each_backend(measure: Callable[[str, MakeUrl], None], *, postgres: bool = True) -> None:
    """`measure("SQLite", make_url)`, then `measure("PostgreSQL", make_url)` unless told not to or the
    server programs are missing (said so)."""
    measure("SQLite", lambda folder, label: f"sqlite:///{folder / f'{label}.sqlite'}")
    if not postgres:
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.postgres import find_postgres_bin, start_server

    bin_dir = find_postgres_bin()
    if bin_dir is None:
        print("PostgreSQL: not measured (no server programs; apt-get install postgresql)")
        return
    server = start_server(bin_dir)
    try:
        measure("PostgreSQL", lambda folder, label: server.create_database(f"bench_{label}_{time.time_ns()}"))
    finally:
        server.stop()
