"""Start-up cost: median wall time of whole `psflow` commands, each a fresh process.

    python bench/bench_startup.py                   # 7 runs of each, `psflow` from PATH
    python bench/bench_startup.py --runs 15 --psflow /other/venv/bin/psflow

Every test that starts the real command pays this, so it bounds how fast the suite can be.
Each command runs in a temporary folder with its own config file, key folder, code cache
and SQLite database (--db): nothing of the user's is read or written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "approval.py"
TINY = 'with block("one"):\n    x = 1\nprint(x)\n'


def timed(command: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    """Median seconds of `runs` runs of `command`; it must exit 0."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--psflow", default=shutil.which("psflow") or "psflow", help="the console script to time")
    given = parser.parse_args()
    psflow = given.psflow
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {key: value for key, value in os.environ.items() if not key.startswith("PSFLOW_")}
        env.update(
            NO_COLOR="1", PSFLOW_CONFIG=str(folder / "config" / "config.toml"), XDG_CACHE_HOME=str(folder / "cache")
        )
        (folder / "tiny.py").write_text(TINY)
        empty = f"sqlite:///{folder / 'empty.sqlite'}"
        db = f"sqlite:///{folder / 'psflow.sqlite'}"
        subprocess.run(
            [psflow, "init", "--sqlite", str(folder / "empty.sqlite")],
            env=env,
            cwd=folder,
            check=True,
            capture_output=True,
        )
        made = subprocess.run(
            [psflow, "exec", "tiny.py", "--db", db], env=env, cwd=folder, check=True, capture_output=True, text=True
        )
        job_id = made.stderr.split("job ", 1)[1].split(":", 1)[0]
        commands = {
            "psflow --version": ["--version"],
            "psflow --help": ["--help"],
            f"psflow show {SAMPLE.name}": ["show", str(SAMPLE)],
            "psflow jobs (empty SQLite)": ["jobs", "--db", empty],
            "psflow resume (nothing due)": ["resume", "--db", empty],
            "psflow job ID": ["job", job_id, "--db", db],
            "psflow exec tiny.py (1 block)": ["exec", "tiny.py", "--db", db],
        }
        print(f"{psflow}: median of {given.runs} runs")
        for label, args in commands.items():
            print(f"  {label:<32} {timed([psflow, *args], env, folder, given.runs) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
