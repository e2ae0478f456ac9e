"""Pipeline at scale: peak RSS as the map grows, and throughput against the in-memory engine, one run.

For each map size a synthetic store is written (block by block), then ``hyperspec run`` runs the
smallest recipe (``cspbbr3-633``) on it in a fresh process; peak RSS is that process's own
(``VmHWM``). The in-memory reference loads the smallest map whole and runs
``hyperspec.decompose`` on it with the same threads. Sizes are float32 store sizes (1024 channels).
Usage: ``python benchmarks/bench_pipeline.py --sizes 16 64 256 --out benchmarks/results/pipeline_cpu.md``
(``--sizes 1024 4096 16384`` is the manual large run: 16 GiB is ≈4 M spectra, hours on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import PEAK_RSS_CODE, _machine, write_table  # noqa: E402

RUN = (
    PEAK_RSS_CODE
    + r"""
import json, sys, time
import hyperspec
from hyperspec.pipeline import run_recipe
t = time.perf_counter()
out = run_recipe({"input": {"path": sys.argv[1]}, "decompose": {"preset": "cspbbr3-633"}, "output": {"path": sys.argv[2]},
                  "compute": {"backend": "numpy"}}, progress=False)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "rss": peak_rss()}))
"""
)

MEM = (
    PEAK_RSS_CODE
    + r"""
import json, sys, time
import hyperspec
ds = hyperspec.open(sys.argv[1]).compute()
with hyperspec.single_threaded_blas():
    hyperspec.decompose(ds.isel(y=slice(0, 1)), backend="numpy").compute()
    t = time.perf_counter()
    hyperspec.decompose(ds.chunk({"y": max(1, ds.sizes["y"] // 8)}), backend="numpy").compute()
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "rss": peak_rss()}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[16, 64, 256], help="store sizes in MiB")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from hyperspec import synthetic

    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    rows = []
    for mib in args.sizes:
        n_px = int(mib * 2**20 / (1024 * 4))
        side = int(math.sqrt(n_px))
        ny, nx = side, max(1, n_px // side)
        path = synthetic.write("map", tmp / f"map{int(mib)}.zarr", (ny, nx), n_spectral=1024, seed=0, progress=False)
        res = subprocess.run([sys.executable, "-c", RUN, str(path), str(tmp / f"out{int(mib)}.zarr")], capture_output=True, text=True)
        if res.returncode:
            raise SystemExit(res.stderr)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        r.update(mib=mib, pixels=ny * nx, shape=f"{ny}×{nx}")
        rows.append(r)
        print(r, flush=True)
    small = min(rows, key=lambda r: r["mib"])
    mem = subprocess.run([sys.executable, "-c", MEM, str(tmp / f"map{int(small['mib'])}.zarr")], capture_output=True, text=True)
    if mem.returncode:
        raise SystemExit(mem.stderr)
    m = json.loads(mem.stdout.strip().splitlines()[-1])
    mem_rate = small["pixels"] / m["seconds"]
    lines = [
        "# Pipeline benchmark: the smallest recipe (cspbbr3-633) streamed from store to store",
        "",
        f"Machine: {_machine()}, NumPy backend, threads scheduler. {time.strftime('%Y-%m-%d')}.",
        f"Run: `python benchmarks/bench_pipeline.py --sizes {' '.join(str(int(s)) for s in args.sizes)}`.",
        "Peak RSS is the `hyperspec run` process's own VmHWM. The in-memory reference loads the smallest map whole and runs",
        f"`hyperspec.decompose` on it (dask threads, after a one-row warm-up): {mem_rate:,.0f} px/s, peak RSS {m['rss'] / 2**20:,.0f} MiB.",
        "",
        "| store (MiB) | map | pixels | seconds | pixels/s | vs in-memory | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rate = r["pixels"] / r["seconds"]
        lines.append(
            f"| {r['mib']:g} | {r['shape']} | {r['pixels']:,} | {r['seconds']:.1f} | {rate:,.0f} | {100 * rate / mem_rate:.0f} % | {r['rss'] / 2**20:,.0f} |"
        )
    write_table(lines, args.out)


if __name__ == "__main__":
    main()
