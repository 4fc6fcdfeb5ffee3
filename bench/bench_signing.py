"""What signing costs: importing `cryptography`, reading the key, signing a job and verifying it,
and a warm `psflow exec` of a one-block script (which signs the new job) end to end.

    python bench/bench_signing.py           # medians: 10 imports, 2000 signs/verifies, 15 exec runs

Prints numbers, asserts nothing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _median_us(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.environ["PSFLOW_CONFIG"] = str(Path(folder) / "config.toml")
        with_import, without = [], []
        for _ in range(10):  # interleaved, so that load on the machine falls on both alike
            for code, times in (
                ("import cryptography.hazmat.primitives.asymmetric.ed25519", with_import),
                ("pass", without),
            ):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True)
                times.append(time.perf_counter() - started)
        extra = (statistics.median(with_import) - statistics.median(without)) * 1000
        print(f"import cryptography's Ed25519 in a new process: +{extra:.1f} ms (median of 10)")

        from psflow.service import trust
        from psflow.signing import public_key, signer
        from psflow.store import JobView

        key = signer()
        job = JobView(
            id="bench",
            name="flow",
            script="/srv/flow.py",
            source_sha256="a" * 64,
            args=("--day", "1"),
            status="Waiting",
            reason=None,
            created_at=0.0,
            updated_at=0.0,
            owner_host=None,
            owner_pid=None,
            owner_started=None,
            lease_until=None,
            attempts=1,
            due_at=0.0,
            waits_for=None,
            waiting_since=None,
            workflow=None,
            workflow_version=None,
            cwd="/srv",
        )
        source = "x = 1\n" * 200
        signature = trust.sign_job(key, job, source)
        public = public_key()
        payload = trust.job_payload(job, source)
        print(f"read the key files:    {_median_us(lambda: (signer(), public_key()), 500):8.1f} µs")
        print(f"sign a job:            {_median_us(lambda: trust.sign_job(key, job, source), 2000):8.1f} µs")
        verify = lambda: public.verify(payload, signature, what="job", vouch="-")  # noqa: E731
        print(f"verify a job:          {_median_us(verify, 2000):8.1f} µs")

        script = Path(folder) / "flow.py"
        script.write_text('block "A":\n    x = 1\n')
        env = {**os.environ, "PSFLOW_DB": str(Path(folder) / "db.sqlite"), "XDG_CACHE_HOME": str(Path(folder) / "c")}
        runs = []
        for index in range(16):
            started = time.perf_counter()
            subprocess.run(["psflow", "exec", str(script)], env=env, check=True, capture_output=True)
            if index:  # the first fills the code cache
                runs.append(time.perf_counter() - started)
        print(f"warm `psflow exec` (signs the new job): {statistics.median(runs) * 1000:.0f} ms median of {len(runs)}")


if __name__ == "__main__":
    main()
