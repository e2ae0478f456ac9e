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
from _harness import machine, markdown_table, publish  # noqa: E402


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
        runs = [("`hyperspec demo`, empty numba cache (first use)", run_demo(Path(tmp) / "cold", cache))]
        runs += [(f"`hyperspec demo`, cached kernels (run {k})", run_demo(Path(tmp) / f"warm{k}", cache)) for k in (1, 2, 3)]
    rows = [
        {"run": name, "wall time (s)": wall, "the demo's own report": report, "numba notices on stderr": "<br>".join(notices) or "none"}
        for name, (wall, report, notices) in runs
    ]
    warm = sorted(w for _, (w, _, _) in runs[1:])
    notes = [
        "Each run is a fresh interpreter (`python -m hyperspec demo`); the first has an empty `NUMBA_CACHE_DIR`, as the first use "
        "after an install does, the next three load the kernels it cached.",
        f"Cached kernels: min {warm[0]:.1f} s, median {warm[1]:.1f} s. The test-suite time the README quotes is CI's log.",
    ]
    text = markdown_table(rows, title="Times the README quotes", machine_info=machine(), notes=notes)
    publish(text, args.out)


if __name__ == "__main__":
    main()
