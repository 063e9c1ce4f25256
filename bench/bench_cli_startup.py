"""Wall time of ``roster --help`` (in Chinese and in English) beside ``python -c pass``, measured in the
same run; with ``--against REV``, also ``roster --help`` of an older commit (checked out in a temporary
git worktree, run with this venv), alternating old and new whole processes so that the machine's load
falls on both alike, and the ratio new/old per pair.

Usage: .venv/bin/python bench/bench_cli_startup.py [--runs 30] [--against 54ce72b]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall_time(argv: list[str], cwd: Path, env: Mapping[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def environment(lang: str | None, pythonpath: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, ROSTER_HOME=str(ROOT / "var" / "bench-startup"))
    env.pop("ROSTER_LANG", None)
    if lang:
        env["ROSTER_LANG"] = lang
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def summary(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    return (f"{label:34s} median {statistics.median(times) * 1000:6.1f} ms   "
            f"p90 {ordered[int(len(ordered) * 0.9) - 1] * 1000:6.1f} ms   max {max(times) * 1000:6.1f} ms")


def measure(cases: dict[str, tuple[list[str], Path, dict[str, str]]], runs: int) -> dict[str, list[float]]:
    """Every case once per round (warm-up rounds first), so that load spikes fall on all cases alike."""
    times: dict[str, list[float]] = {label: [] for label in cases}
    for round_no in range(runs + 3):
        for label, (argv, cwd, env) in cases.items():
            elapsed = wall_time(argv, cwd, env)
            if round_no >= 3:
                times[label].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--against", metavar="REV", help="also time `roster --help` of this older commit")
    args = parser.parse_args()
    python = sys.executable
    cases: dict[str, tuple[list[str], Path, dict[str, str]]] = {
        "python -c pass (baseline)": ([python, "-c", "pass"], ROOT, environment(None)),
        "roster --help (zh_CN)": ([python, str(ROOT / "cli.py"), "--help"], ROOT, environment("zh_CN")),
        "roster --help (en)": ([python, str(ROOT / "cli.py"), "--help"], ROOT, environment("en")),
    }
    with tempfile.TemporaryDirectory(prefix="roster-old-") as scratch:
        old = Path(scratch) / "old"
        if args.against:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.against],
                           check=True)
            cases[f"roster --help at {args.against}"] = ([python, str(old / "cli.py"), "--help"], old,
                                                         environment(None, old))
        try:
            times = measure(cases, args.runs)
        finally:
            if args.against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; {args.runs} rounds after 3 warm-up rounds")
    for label, values in times.items():
        print(summary(label, values))
    base = statistics.median(times["python -c pass (baseline)"])
    for label in ("roster --help (zh_CN)", "roster --help (en)"):
        print(f"ratio {label} / baseline: {statistics.median(times[label]) / base:.2f}x")
    if args.against:
        old_times = times[f"roster --help at {args.against}"]
        print(f"ratio {args.against} / baseline: {statistics.median(old_times) / base:.2f}x")
        for label in ("roster --help (zh_CN)", "roster --help (en)"):
            pairs = sorted(new / old for new, old in zip(times[label], old_times, strict=True))
            print(f"pairwise new/old, {label}: median {statistics.median(pairs):.2f} "
                  f"(range {pairs[0]:.2f}-{pairs[-1]:.2f})")


if __name__ == "__main__":
    main()
