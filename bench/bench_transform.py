"""Transform cost: cold rewrite+compile of a large script, and a warm load from the code cache.

    python bench/bench_transform.py          # 1000-line script with 100 blocks

Targets: cold ≤ 1.5 s, warm ≤ 2 ms (medians).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from psflow.loading import load_script
from psflow.loading.cache import cache_path


def big_script(blocks: int = 100, lines: int = 1000) -> str:
    """`blocks` blocks spread over about `lines` lines of ordinary code."""
    per_block = lines // blocks
    out = ["import os", "results = []", "def helper(x):", "    return x * 2", ""]
    for index in range(blocks):
        out.append(f'with block("step-{index}"):')
        out.append(f"    value_{index} = helper({index})")
        out.append(f"    results.append(value_{index})")
        for filler in range(per_block - 6):
            out.append(f"    tmp_{filler} = value_{index} + {filler}  # keep the body realistic")
        out.append(f"if value_{index} > 10**9:")
        out.append("    print('unreachable')")
        out.append("")
    return "\n".join(out) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "big.py"
        script.write_text(big_script())
        count = len(script.read_text().splitlines())
        cold = []
        for _ in range(5):
            cache_path(script.resolve()).unlink(missing_ok=True)
            start = time.perf_counter()
            load_script(script)
            cold.append(time.perf_counter() - start)
        warm = []
        for _ in range(50):
            start = time.perf_counter()
            load_script(script)
            warm.append(time.perf_counter() - start)
        print(f"script: {count} lines, 100 blocks")
        print(f"cold transform + compile: {statistics.median(cold):.3f} s (median of 5; libcst already imported)")
        print(f"warm load from cache:     {statistics.median(warm) * 1e3:.2f} ms (median of 50)")
        probe = (
            "import sys, time; from pathlib import Path; t = time.perf_counter();"
            "from psflow.loading import load_script; load_script(Path(sys.argv[1]));"
            "print(f'{(time.perf_counter() - t) * 1e3:.2f}', 'libcst' in sys.modules)"
        )
        output = subprocess.run([sys.executable, "-c", probe, str(script)], capture_output=True, text=True, check=True)
        millis, libcst_loaded = output.stdout.split()
        print(f"warm load in a fresh process: {millis} ms including imports; libcst imported: {libcst_loaded}")
        cache_path(script.resolve()).unlink(missing_ok=True)
        output = subprocess.run([sys.executable, "-c", probe, str(script)], capture_output=True, text=True, check=True)
        print(f"cold load in a fresh process: {output.stdout.split()[0]} ms including the libcst import")


if __name__ == "__main__":
    main()
