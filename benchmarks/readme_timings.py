"""The times the README quotes, measured: `hyperspec demo` cold (empty numba cache) and warm.

Runs ``hyperspec demo`` in fresh interpreters, twice with one fresh ``NUMBA_CACHE_DIR`` (the first run
compiles the numba kernels, as the first use after an install does; the second loads them), and
records the wall time of each run, the demo's own "run" line (pixels/s, recipe and picture times) and
the machine, in ``benchmarks/results/readme_timings.md``.

Usage::

    python benchmarks/readme_timings.py [--out benchmarks/results/readme_timings.md]

The test-suite time the README quotes is CI's (``make test`` prints its duration and the 25 slowest
tests); it is not re-measured here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import _machine, write_table  # noqa: E402 - the house machine line and table writer


def run_demo(out: Path, cache: Path) -> tuple[float, str, list[str]]:
    """One ``hyperspec demo`` in a fresh interpreter: (wall s, its "run" line, its numba notices)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "hyperspec.cli", "demo", "--out", str(out), "--overwrite"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    run_line = next((line for line in proc.stdout.splitlines() if line.startswith("run ")), "")
    notices = [line.strip() for line in proc.stderr.splitlines() if line.startswith("numba:")]
    return wall, run_line.removeprefix("run").strip(), notices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/readme_timings.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "numba-cache"
        cold = run_demo(Path(tmp) / "cold", cache)
        warm = run_demo(Path(tmp) / "warm", cache)
    lines = [
        "# Times the README quotes",
        "",
        f"Machine: {_machine()}",
        f"Measured {time.strftime('%Y-%m-%d')} by `python benchmarks/readme_timings.py`.",
        "",
        "| run | wall time (s) | the demo's own report | numba notices on stderr |",
        "|---|---|---|---|",
    ]
    for name, (wall, report, notices) in (
        ("`hyperspec demo`, empty numba cache (first use)", cold),
        ("`hyperspec demo`, cached kernels", warm),
    ):
        lines.append(f"| {name} | {wall:.1f} | {report} | {'<br>'.join(notices) or 'none'} |")
    write_table(lines, args.out)


if __name__ == "__main__":
    main()
