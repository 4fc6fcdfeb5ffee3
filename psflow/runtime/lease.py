"""The lease a running job holds, kept alive by a heartbeat thread.

If this process dies, the heartbeat stops, the lease runs out, and another
server may claim the job (`psflow resume --status Running`). One daemon thread
per process renews the leases of every job the process is running, so starting
a job costs no thread start and finishing one no join.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from psflow.domain import Runner

if TYPE_CHECKING:
    from psflow.store import Store


class _Beater:
    """The process's heartbeat thread and the leases it keeps: job id → (store, pid, seconds, next beat)."""

    def __init__(self) -> None:
        self.leases: dict[str, list] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, store: Store, job_id: str, pid: int, seconds: float) -> None:
        with self.lock:
            self.leases[job_id] = [store, pid, seconds, time.monotonic() + seconds / 3]
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="psflow-heartbeat", daemon=True)
                self.thread.start()
        self.wake.set()

    def remove(self, job_id: str) -> None:
        with self.lock:
            self.leases.pop(job_id, None)

    def _run(self) -> None:
        while True:
            with self.lock:
                due = [(job_id, entry) for job_id, entry in self.leases.items() if entry[3] <= time.monotonic()]
                for _, entry in due:
                    entry[3] = time.monotonic() + entry[2] / 3
                soonest = min((entry[3] for entry in self.leases.values()), default=time.monotonic() + 60)
            for job_id, (store, pid, seconds, _) in due:
                try:
                    store.renew_lease(job_id, pid, seconds)
                except Exception:  # noqa: BLE001 - a busy or lost database: try again next beat
                    continue
            self.wake.wait(max(0.0, soonest - time.monotonic()))
            self.wake.clear()


_beater = _Beater()


class Heartbeat:
    """Keeps the job's lease renewed (every third of its length) while the attempt runs."""

    def __init__(self, store: Store, job_id: str, runner: Runner) -> None:
        self._store, self._job_id, self._runner = store, job_id, runner

    def __enter__(self) -> Heartbeat:
        _beater.add(self._store, self._job_id, self._runner.pid, self._runner.lease_seconds)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _beater.remove(self._job_id)
