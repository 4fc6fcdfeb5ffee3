"""The lease a running job holds, kept alive by a heartbeat thread.

If this process dies, the heartbeat stops, the lease runs out, and another
server may claim the job (`psflow resume --status Running`).
"""

from __future__ import annotations

import os
import threading

from psflow.store import JobStore

DEFAULT_LEASE_SECONDS = 60.0


def lease_seconds() -> float:
    """How long a claim lasts without a heartbeat (PSFLOW_LEASE_SECONDS, default 60)."""
    try:
        return max(1.0, float(os.environ.get("PSFLOW_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)))
    except ValueError:
        return DEFAULT_LEASE_SECONDS


class Heartbeat:
    """Renews a job's lease every third of its length while the attempt runs."""

    def __init__(self, store: JobStore, job_id: str, pid: int, seconds: float) -> None:
        self._store, self._job_id, self._pid, self._seconds = store, job_id, pid, seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"psflow-heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stopped.wait(self._seconds / 3):
                try:
                    self._store.renew_lease(self._job_id, self._pid, self._seconds)
                except Exception:  # noqa: BLE001 - a busy database: try again next beat
                    continue
        finally:
            self._store.db.close()  # this thread's own connection
