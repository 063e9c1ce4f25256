"""Wall time of ``roster --help`` beside ``python -c pass``, measured in the same run.

Usage: .venv/bin/python bench/bench_cli_startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall_times(argv: list[str], runs: int) -> list[float]:
    times = []
    env = dict(os.environ, ROSTER_HOME=str(ROOT / "var" / "bench-startup"))
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    roster = str(Path(sys.executable).with_name("roster"))
    cases = {"python -c pass (baseline)": [sys.executable, "-c", "pass"], "roster --help": [roster, "--help"]}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for label, argv in cases.items():
        wall_times(argv, 3)  # warm the page cache
        times = wall_times(argv, args.runs)
        print(f"{label:28s} median {statistics.median(times) * 1000:6.1f} ms   "
              f"p90 {sorted(times)[int(len(times) * 0.9) - 1] * 1000:6.1f} ms   max {max(times) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
