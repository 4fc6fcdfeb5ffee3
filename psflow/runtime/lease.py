"""The lease a running job holds, kept alive by a heartbeat thread, and the output it shows meanwhile.

If this process dies, the heartbeat stops, the lease runs out, and another server
may claim the job. One daemon thread per process renews the leases of every job the
process is running (every third of the lease), so starting a job costs no thread
start. A renewal is fenced by the attempt number: when it finds the job taken by
someone else, the attempt is told at once (`on_lost`). The same thread writes the
running attempt's latest output for `psflow logs --follow`, at most once a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psflow.domain import Runner
    from psflow.store import Store

LIVE_OUTPUT_SECONDS = 1.0


@dataclass
class _Lease:
    store: Store
    job_id: str
    number: int
    seconds: float
    on_lost: Callable[[], None]
    live: Callable[[], tuple[int, str]] | None  # (how much was written so far, the text to show)
    next_renewal: float = 0.0
    next_live: float = 0.0
    live_written: int = 0
    lost: bool = field(default=False)


class _Beater:
    """The process's heartbeat thread and the leases it keeps."""

    def __init__(self) -> None:
        self.leases: dict[str, _Lease] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, lease: _Lease) -> None:
        now = time.monotonic()
        lease.next_renewal, lease.next_live = now + lease.seconds / 3, now + LIVE_OUTPUT_SECONDS
        with self.lock:
            self.leases[lease.job_id] = lease
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
                leases = list(self.leases.values())
            for lease in leases:
                self._beat(lease, time.monotonic())
            with self.lock:
                soonest = min(
                    (min(lease.next_renewal, lease.next_live) for lease in self.leases.values()),
                    default=time.monotonic() + 60,
                )
            self.wake.wait(max(0.0, soonest - time.monotonic()))
            self.wake.clear()

    @staticmethod
    def _beat(lease: _Lease, now: float) -> None:
        try:
            if now >= lease.next_renewal:
                lease.next_renewal = now + lease.seconds / 3
                if not lease.store.renew_lease(lease.job_id, lease.number, lease.seconds) and not lease.lost:
                    lease.lost = True
                    lease.on_lost()
            if lease.live is not None and now >= lease.next_live:
                lease.next_live = now + LIVE_OUTPUT_SECONDS
                written, text = lease.live()
                if written != lease.live_written:
                    lease.live_written = written
                    lease.store.set_live_output(lease.job_id, lease.number, text)
        except Exception:
            return


_beater = _Beater()


class Heartbeat:
    """Keeps attempt `number`'s lease renewed while it runs; `on_lost` is called (from the heartbeat
    thread) when the job turns out to be someone else's; `live` gives the output to show meanwhile."""

    def __init__(
        self,
        store: Store,
        job_id: str,
        number: int,
        runner: Runner,
        *,
        on_lost: Callable[[], None],
        live: Callable[[], tuple[int, str]] | None = None,
    ) -> None:
        self._lease = _Lease(store, job_id, number, runner.lease_seconds, on_lost, live)

    def __enter__(self) -> Heartbeat:
        _beater.add(self._lease)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _beater.remove(self._lease.job_id)
