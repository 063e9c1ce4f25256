"""Wall time of ``roster --help`` (in Chinese and in English) beside ``python -c pass``, measured in the
same run. ``roster`` is run as its console script runs it (``from cli import main``: the module from its
cached bytecode), not as ``python cli.py``, which compiles the whole file from source at every start,
a cost no user pays and one that grows with the file (likewise the tree's modules are loaded from
cached bytecode: PYTHONDONTWRITEBYTECODE is removed from the children's environment); with ``--against REV``, also ``roster --help`` of an older commit (checked out in a temporary
git worktree, run with this venv), alternating old and new whole processes so that the machine's load
falls on both alike, and the ratio new/old per pair.

Usage: .venv/bin/python bench/bench_cli_startup.py [--runs 30] [--against 54ce72b]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What the ``roster`` console script does (pyproject's ``roster = "cli:main"``); run with the tree
#: as the working directory, which ``-c`` puts first on sys.path.
ENTRY_POINT = "import sys; sys.argv[0] = 'roster'; from cli import main; sys.exit(main())"


def run_once(argv: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one whole process: CPU time is what the start costs
    on a loaded machine, where the wall time also holds the waits for a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def environment(lang: str | None, pythonpath: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, ROSTER_HOME=str(ROOT / "var" / "bench-startup"))
    env.pop("ROSTER_LANG", None)
    # As an installed roster starts: from bytecode cached on the first run (warm-up rounds). With
    # PYTHONDONTWRITEBYTECODE (set in some shells and CI images) every start compiles every module of
    # the tree from source, which times the size of the source files, not what a user waits for.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if lang:
        env["ROSTER_LANG"] = lang
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def summary(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    return (f"{label:34s} median {statistics.median(times) * 1000:6.1f} ms   "
            f"p90 {ordered[int(len(ordered) * 0.9) - 1] * 1000:6.1f} ms   max {max(times) * 1000:6.1f} ms")


def measure(cases: dict[str, tuple[list[str], Path, dict[str, str]]],
            runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Every case once per round (warm-up rounds first), so that load spikes fall on all cases alike,
    in a shuffled order; wall and CPU times per case."""
    walls: dict[str, list[float]] = {label: [] for label in cases}
    cpus: dict[str, list[float]] = {label: [] for label in cases}
    order = list(cases)
    shuffle = random.Random(20261203).shuffle  # each round in another order: no case always runs after another
    for round_no in range(runs + 3):
        shuffle(order)
        for label in order:
            argv, cwd, env = cases[label]
            wall, cpu = run_once(argv, cwd, env)
            if round_no >= 3:
                walls[label].append(wall)
                cpus[label].append(cpu)
    return walls, cpus


def report(kind: str, times: dict[str, list[float]], against: str | None) -> None:
    print(f"{kind}:")
    for label, values in times.items():
        print("  " + summary(label, values))
    base = statistics.median(times["python -c pass (baseline)"])
    for label in ("roster --help (zh_CN)", "roster --help (en)"):
        print(f"  ratio {label} / baseline: {statistics.median(times[label]) / base:.2f}x")
    if against:
        old_times = times[f"roster --help at {against}"]
        print(f"  ratio {against} / baseline: {statistics.median(old_times) / base:.2f}x")
        for label in ("roster --help (zh_CN)", "roster --help (en)"):
            pairs = sorted(new / old for new, old in zip(times[label], old_times, strict=True))
            print(f"  pairwise new/old, {label}: median {statistics.median(pairs):.2f} "
                  f"(range {pairs[0]:.2f}-{pairs[-1]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--against", metavar="REV", help="also time `roster --help` of this older commit")
    args = parser.parse_args()
    python = sys.executable
    roster = [python, "-c", ENTRY_POINT, "--help"]
    cases: dict[str, tuple[list[str], Path, dict[str, str]]] = {
        "python -c pass (baseline)": ([python, "-c", "pass"], ROOT, environment(None)),
        "roster --help (zh_CN)": (roster, ROOT, environment("zh_CN")),
        "roster --help (en)": (roster, ROOT, environment("en")),
    }
    with tempfile.TemporaryDirectory(prefix="roster-old-") as scratch:
        old = Path(scratch) / "old"
        if args.against:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.against],
                           check=True)
            cases[f"roster --help at {args.against}"] = (roster, old, environment(None, old))
        try:
            walls, cpus = measure(cases, args.runs)
        finally:
            if args.against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; {args.runs} rounds after 3 warm-up rounds")
    report("wall time", walls, args.against)
    report("CPU time (user + system)", cpus, args.against)

if __name__ == "__main__":
    main()
